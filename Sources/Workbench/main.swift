// medseg: the command-line entry point. Each subcommand lives in CLI/<Name>Command.swift.
#if canImport(Glibc)
import Glibc
#endif

exit(MedsegCLI.run(Array(CommandLine.arguments.dropFirst())))
