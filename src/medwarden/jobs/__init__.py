"""Background work: the job worker loop and the built-in job handlers (an entry point).

``medwarden worker run`` starts workers that poll the store's job queue; see
``docs/operations.md`` and ``docs/adr/0009-outbox-and-job-queue.md``.
"""
