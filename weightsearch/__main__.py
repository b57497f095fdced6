"""``python -m weightsearch`` runs the command line."""

from weightsearch.cli import main

if __name__ == "__main__":
    main()
