from dlstack.cli import main

main()
