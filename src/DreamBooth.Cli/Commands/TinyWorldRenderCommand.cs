using System.ComponentModel;
using System.Text.Json;
using DreamBooth.Data;
using DreamBooth.IO;
using DreamBooth.TinyWorld;
using Spectre.Console;
using Spectre.Console.Cli;

namespace DreamBooth.Cli.Commands;

/// <summary>`dreambooth tiny-world render`: writes dataset items as PNGs with their captions, plus a contact sheet, for inspection.</summary>
public sealed class TinyWorldRenderCommand : Command<TinyWorldRenderCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("-o|--output <DIR>"), Description("Output folder (created).")]
        public string Output { get; init; } = "";

        [CommandOption("-n|--count <N>"), Description("Number of scenes."), DefaultValue(64)]
        public int Count { get; init; } = 64;

        [CommandOption("--seed <N>"), Description("Dataset seed."), DefaultValue(0L)]
        public long Seed { get; init; }

        [CommandOption("--start <INDEX>"), Description("First dataset index."), DefaultValue(0L)]
        public long Start { get; init; }

        [CommandOption("--full-world"), Description("Sample the full world (held-out combinations and demo look-alikes included) instead of the pretraining stream.")]
        public bool FullWorld { get; init; }

        [CommandOption("--overwrite"), Description("Replace scenes, captions.jsonl or the contact sheet already in --output.")]
        public bool Overwrite { get; init; }

        [CommandOption("--columns <N>"), Description("Contact sheet columns."), DefaultValue(8)]
        public int Columns { get; init; } = 8;

        public override ValidationResult Validate() =>
            string.IsNullOrWhiteSpace(Output) ? ValidationResult.Error("--output is required")
            : Count is < 1 or > 100_000 ? ValidationResult.Error("--count must be between 1 and 100000")
            : Start < 0 ? ValidationResult.Error("--start must be >= 0")
            : Start > long.MaxValue - Count ? ValidationResult.Error($"--start {Start}: too large (--start + --count must fit in 64 bits)")
            : Seed < 0 ? ValidationResult.Error($"--seed {Seed}: must be zero or positive")
            : Columns < 1 ? ValidationResult.Error("--columns must be >= 1")
            : ValidationResult.Success();
    }

    private const string CaptionsFile = "captions.jsonl";

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        AtomicFile.CheckWritableFolder(s.Output, "--output");
        var targets = Enumerable.Range(0, s.Count).Select(k => $"{s.Start + k:D6}.png").Append(CaptionsFile).Append(ContactSheet.FileName);
        if (!s.Overwrite && targets.FirstOrDefault(f => File.Exists(Path.Combine(s.Output, f))) is { } existing)
            throw new DreamBoothException($"--output {s.Output}: {existing} already exists (use --overwrite to replace it)");
        Directory.CreateDirectory(s.Output);
        AtomicFile.RemoveStaleTemps(s.Output); // a killed earlier run's half-written image
        var dataset = new TinyWorldDataset(s.Seed, pretraining: !s.FullWorld);
        var sheet = new List<TorchSharp.torch.Tensor>();
        var captions = new List<string>();
        var lines = new List<string>();
        ProgressDisplay.Run("rendering scenes", s.Count, "img", task =>
        {
            for (int k = 0; k < s.Count; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var ex = dataset.Example(s.Start + k);
                var image = SceneRenderer.RenderTensor(ex.Scene);
                var name = $"{ex.Index:D6}.png";
                ImageIO.SavePng(Path.Combine(s.Output, name), image, new[] { KeyValuePair.Create(GenerationParameters.PngKey, ex.Text) });
                lines.Add(JsonSerializer.Serialize(new { file = name, index = ex.Index, caption = ex.Text, full = Captioner.Describe(ex.Scene).ToString(), scene = ex.Scene }, JsonOptions));
                if (sheet.Count < 256) { sheet.Add(image); captions.Add(ex.Text); }
                else image.Dispose();
                task.Increment(1);
            }
            return 0;
        });
        AtomicFile.WriteAllText(Path.Combine(s.Output, CaptionsFile), string.Join("\n", lines) + "\n");
        ContactSheet.Save(Path.Combine(s.Output, ContactSheet.FileName), sheet, s.Columns, captions, scale: 2,
            title: $"tiny world, seed {s.Seed}, items {s.Start}..{s.Start + s.Count - 1}{(s.FullWorld ? " (full world)" : " (pretraining stream)")}");
        foreach (var t in sheet) t.Dispose();
        AnsiConsole.MarkupLineInterpolated($"Wrote {s.Count} scenes, {CaptionsFile} and {ContactSheet.FileName} to [bold]{s.Output}[/]");
        return 0;
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };
}
