"""``python -m facetrack``: the command line (an entry point; the library itself never imports the CLI)."""
from facetrack_cli.main import main

raise SystemExit(main())
