import PorcelainCommands

Portal.start()
