from pairsearch.cli import main

main()
