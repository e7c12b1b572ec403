"""Public test helpers: a loopback HTTP replay server for recorded feed responses."""
