// medseg: the command-line entry point. Each subcommand lives in CLI/<Name>Command.swift.
#if canImport(Glibc)
import Glibc
#endif

// One line at a time even into a pipe or file, so a run that is interrupted keeps the lines
// of the cases it finished (`segment`'s "-> output" lines).
setvbuf(stdout, nil, _IOLBF, 0)
// A reader that stops reading (`medseg segment DIR -o OUT | head -1`) must not end a batch half
// done: writes to it fail instead, and the work goes on to its end.
signal(SIGPIPE, SIG_IGN)
exit(MedsegCLI.run(Array(CommandLine.arguments.dropFirst())))
