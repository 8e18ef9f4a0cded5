using System.Reflection;
using CommandLine;
using Humpback.Cli;

// The `humpback` command. Verbs are the classes under Verbs/ marked [Verb] and implementing ICommand;
// each one parses options and calls the Humpback library. Exit codes: 0 ok, 1 failure, 2 bad usage, 130 cancelled.
return await CliHost.RunAsync(args, Assembly.GetExecutingAssembly());
