"""The subcommands of ``lrlab``, one module each: its texts (``SUMMARY``, ``DESCRIPTION``,
``EXAMPLES``), ``add_arguments(parser)`` and ``run(args)``; torch is imported only inside ``run``.
:data:`lrlab.cli.COMMANDS` registers them."""
