using DreamBooth.Cli;
using DreamBooth.Runtime;

if (AllocatorSetup.ReExecIfNeeded() is int childExit) return childExit;
AllocatorSetup.TieToParent();
return await CliApp.RunAsync(args);
