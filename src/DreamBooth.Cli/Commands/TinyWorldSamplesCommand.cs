using System.ComponentModel;
using DreamBooth.Data;
using DreamBooth.IO;
using DreamBooth.TinyWorld;
using Spectre.Console;
using Spectre.Console.Cli;

namespace DreamBooth.Cli.Commands;

/// <summary>`dreambooth tiny-world samples`: (re)generates the demo subject's photos and their README, bit for bit.</summary>
public sealed class TinyWorldSamplesCommand : Command<TinyWorldSamplesCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("-o|--output <DIR>"), Description("Output folder."), DefaultValue("samples")]
        public string Output { get; init; } = "samples";

        [CommandOption("--seed <N>"), Description("Photo seed (the shipped photos use 2023)."), DefaultValue(DemoSubject.PhotoSeed)]
        public long Seed { get; init; } = DemoSubject.PhotoSeed;

        [CommandOption("-n|--count <N>"), Description("Number of photos (the shipped set has 5)."), DefaultValue(DemoSubject.PhotoCount)]
        public int Count { get; init; } = DemoSubject.PhotoCount;

        [CommandOption("--overwrite"), Description("Replace photos or a README that differ from what this run writes (identical files are always fine).")]
        public bool Overwrite { get; init; }

        public override ValidationResult Validate() =>
            Count is < 1 or > 100 ? ValidationResult.Error("--count must be between 1 and 100")
            : Seed < 0 ? ValidationResult.Error($"--seed {Seed}: must be zero or positive")
            : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var files = SamplePhotos.Write(s.Output, s.Seed, s.Count, s.Overwrite);
        AnsiConsole.MarkupLineInterpolated($"Wrote {files.Count} photos of the demo subject ({DemoSubject.ClassNoun}, {WorldLabels.Phrase(DemoSubject.Context)}) and README.md to [bold]{s.Output}[/]");
        return 0;
    }
}
