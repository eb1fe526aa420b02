from mlws.provider.host import main

main()
