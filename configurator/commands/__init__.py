"""The commands of the command line, one module each; ``configurator.cli`` dispatches to them.

Each command module has ``run(args, store, console)``, returning the exit
code, and is imported only when its command is called, so that a call loads
no more than it needs (``show`` neither TLS nor the audit code).
"""
