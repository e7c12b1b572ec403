"""Controller runners: re-compute a device's decisions on trusted infrastructure.

``base`` (the :class:`~.base.Controller` protocol), ``registry`` (runners by
``(algorithm, version)``), ``oref0`` (OpenAPS oref0 0.7.1 under Node), ``inprocess`` (a
Python reference controller), ``subprocess_runner`` (the line-delimited JSON child process)
and ``errors``.  See ``docs/controllers.md``.
"""
