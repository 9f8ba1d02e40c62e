using System.ComponentModel;
using DreamBooth.IO;
using DreamBooth.Pipelines;
using DreamBooth.Runtime;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace DreamBooth.Cli.Commands;

/// <summary>
/// `dreambooth info`: what this process runs on (versions, threads, the effective allocator and OpenMP wait policy with
/// the environment variables behind them, device), and with --model a summary of a model folder (from its headers).
/// </summary>
public sealed class InfoCommand : Command<InfoCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("-m|--model <PATH>")]
        [Description("A diffusers model folder (or one component folder) to validate and summarize; no tensor is loaded.")]
        public string? Model { get; init; }

        [CommandOption("--variant <NAME>")]
        [Description("Weights variant to read, e.g. fp16 (diffusion_pytorch_model.fp16.safetensors).")]
        public string? Variant { get; init; }

        [CommandOption("--allow-pickle")]
        [Description("Read PyTorch .bin weights where a component has no .safetensors, with a restricted unpickler that only rebuilds tensors.")]
        public bool AllowPickle { get; init; }

        public override ValidationResult Validate()
        {
            if (Model is null && (Variant is not null || AllowPickle))
                return ValidationResult.Error("--variant and --allow-pickle need --model");
            if (Model is { Length: 0 }) return ValidationResult.Error("--model: the path is empty");
            return ValidationResult.Success();
        }
    }

    /// <summary>The line before the list of allocator and OpenMP environment variables (one per line, indented by two spaces).</summary>
    public const string EnvironmentHeader = "Allocator and OpenMP environment:";

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var table = new Table().AddColumn("item").AddColumn("value");
        table.AddRow(".NET", Environment.Version.ToString());
        table.AddRow("TorchSharp", typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "?");
        table.AddRow("threads", get_num_threads().ToString());
        table.AddRow("allocator", AllocatorSetup.EffectiveAllocator() ?? "glibc default (slow first touch; start through ./dreambooth)");
        table.AddRow("OpenMP wait policy", Environment.GetEnvironmentVariable(AllocatorSetup.OmpWaitPolicyVariable) is { Length: > 0 } policy
            ? Markup.Escape(policy) : "unset (idle OpenMP threads spin)");
        table.AddRow("cuda", cuda.is_available() ? "available" : "not available");
        AnsiConsole.Write(table);
        // The variables behind the allocator and OpenMP rows, unwrapped (paths and tunables can be long).
        var writer = AnsiConsole.Profile.Out.Writer;
        writer.WriteLine(EnvironmentHeader);
        foreach (var setting in AllocatorSetup.EffectiveSettings().DefaultIfEmpty("(none set)")) writer.WriteLine("  " + setting);
        if (settings.Model is { } model)
        {
            var folder = ModelFolder.Open(model, new ModelFolderOptions(settings.Variant, settings.AllowPickle));
            AnsiConsole.Profile.Out.Writer.WriteLine(folder.Describe().ToString());
            // A folder that would fail to load is not "fine": list every problem, then fail with the first.
            var check = ModelCheck.Run(folder);
            var problems = check.Problems;
            string skipped = check.NotLoaded.Count == 0 ? ""
                : " (not loaded, too large for a check: " + string.Join(", ", check.NotLoaded.Select(n => $"{n.Name} {n.Parameters / 1e6:0}M parameters")) + ")";
            AnsiConsole.Profile.Out.Writer.WriteLine(problems.Count == 0 ? $"Check: the configs, weights{skipped}, tokenizer and scheduler load." : $"Check: {problems.Count} problem(s):");
            foreach (var p in problems) AnsiConsole.Profile.Out.Writer.WriteLine("  " + p);
            if (problems.Count > 0)
                throw new DreamBoothException($"--model {model}: {problems[0]}" + (problems.Count > 1 ? $" (and {problems.Count - 1} more, listed above)" : ""));
        }
        return 0;
    }
}
