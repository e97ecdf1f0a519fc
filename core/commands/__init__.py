"""One module per `wan-studio` subcommand (see core/cli.py for the contract)."""
