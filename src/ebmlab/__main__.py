from ebmlab.cli import main

raise SystemExit(main())
