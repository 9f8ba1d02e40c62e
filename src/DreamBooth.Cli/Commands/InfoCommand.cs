using DreamBooth.Runtime;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace DreamBooth.Cli.Commands;

/// <summary>`dreambooth info`: what this process runs on.</summary>
public sealed class InfoCommand : Command<InfoCommand.Settings>
{
    public sealed class Settings : CommandSettings { }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var table = new Table().AddColumn("item").AddColumn("value");
        table.AddRow(".NET", Environment.Version.ToString());
        table.AddRow("TorchSharp", typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "?");
        table.AddRow("threads", get_num_threads().ToString());
        table.AddRow("allocator", Environment.GetEnvironmentVariable(AllocatorSetup.MarkerVariable) ?? "default (slow first touch)");
        table.AddRow("cuda", cuda.is_available() ? "available" : "not available");
        AnsiConsole.Write(table);
        return 0;
    }
}
