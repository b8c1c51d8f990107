from carnet.cli import main

main()
