import SyncCommands

DocGenerator.main()
