"""Mail Server Configurator: set up and prove the SMTP server that carries security alerts."""

__version__ = "0.1.0"
