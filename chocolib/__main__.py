from chocolib.cli import main

raise SystemExit(main())
