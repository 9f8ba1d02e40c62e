using DreamBooth.Cli;
using DreamBooth.Runtime;

if (AllocatorSetup.ReExecIfNeeded() is int childExit) return childExit;
return await CliApp.RunAsync(args);
