using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using DreamBooth.TinyWorld.Pretraining;
using Spectre.Console;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace DreamBooth.Cli.Commands;

/// <summary>`dreambooth tiny-world pretrain`: trains the embedded tiny model from scratch (VAE, then text encoder + UNet).</summary>
public sealed class TinyWorldPretrainCommand : Command<TinyWorldPretrainCommand.Settings>
{
    private static readonly PretrainingOptions Defaults = new();

    public sealed class Settings : CommandSettings
    {
        [CommandOption("-o|--output <DIR>"), Description("Model folder to write (diffusers layout + pretraining.json).")]
        public string Output { get; init; } = "";

        [CommandOption("--work-dir <DIR>"), Description("Checkpoints, cached latents, log.csv, VAE reconstructions. Default: <output>.work")]
        public string? WorkDir { get; init; }

        [CommandOption("--resume"), Description("Continue the run in the work folder from its last checkpoint (same options required).")]
        public bool Resume { get; init; }

        [CommandOption("--seed <N>"), Description("Seed of data, initial weights, order and noise."), DefaultValue(1L)]
        public long Seed { get; init; } = Defaults.Seed;

        [CommandOption("--architecture <NAME>"), Description("default, or micro (tests)."), DefaultValue("default")]
        public string Architecture { get; init; } = Defaults.Architecture;

        [CommandOption("--vae-steps <N>"), Description("Stage 1 optimizer steps."), DefaultValue(4000)]
        public int VaeSteps { get; init; } = Defaults.VaeSteps;

        [CommandOption("--vae-batch-size <N>"), Description("Images per VAE step."), DefaultValue(12)]
        public int VaeBatchSize { get; init; } = Defaults.VaeBatchSize;

        [CommandOption("--vae-learning-rate <LR>"), Description("Peak VAE learning rate."), DefaultValue(1e-3)]
        public double VaeLearningRate { get; init; } = Defaults.VaeLearningRate;

        [CommandOption("--vae-hue-augment <P>"), Description("Share of VAE training images rotated in hue (a generic codec for unseen colour pairings); 0 = off."), DefaultValue(0.5)]
        public double VaeHueAugment { get; init; } = Defaults.VaeHueAugment;

        [CommandOption("--latent-images <N>"), Description("World images encoded to cached latents for stage 2."), DefaultValue(60000)]
        public int LatentImages { get; init; } = Defaults.LatentImages;

        [CommandOption("--unet-steps <N>"), Description("Stage 2 (text encoder + UNet) optimizer steps."), DefaultValue(6500)]
        public int UnetSteps { get; init; } = Defaults.UnetSteps;

        [CommandOption("--extend-from-unet-steps <N>"), Description("With --resume: continue a finished stage 2 of N steps to --unet-steps (cosine warm restart).")]
        public int? ExtendFromUnetSteps { get; init; }

        [CommandOption("--batch-size <N>"), Description("Latents per stage-2 step."), DefaultValue(32)]
        public int BatchSize { get; init; } = Defaults.BatchSize;

        [CommandOption("--learning-rate <LR>"), Description("Peak stage-2 learning rate."), DefaultValue(5e-4)]
        public double LearningRate { get; init; } = Defaults.LearningRate;

        [CommandOption("--warmup-steps <N>"), Description("Stage-2 learning-rate warm-up steps."), DefaultValue(400)]
        public int WarmupSteps { get; init; } = Defaults.WarmupSteps;

        [CommandOption("--caption-dropout <P>"), Description("Share of empty captions (classifier-free guidance)."), DefaultValue(0.1)]
        public double CaptionDropout { get; init; } = Defaults.CaptionDropout;

        [CommandOption("--ema-decay <D>"), Description("Decay of the weight moving average that is shipped."), DefaultValue(0.999)]
        public double EmaDecay { get; init; } = Defaults.EmaDecay;

        [CommandOption("--checkpoint-every <N>"), Description("Optimizer steps between checkpoints."), DefaultValue(250)]
        public int CheckpointEvery { get; init; } = Defaults.CheckpointEvery;

        [CommandOption("--threads <N>"), Description("Torch CPU threads (bit-identical reruns need the same count); 0 = library default."), DefaultValue(0)]
        public int Threads { get; init; }

        public override ValidationResult Validate() =>
            string.IsNullOrWhiteSpace(Output) ? ValidationResult.Error("--output is required")
            : TorchThreads.Check(Threads) is { } threads ? ValidationResult.Error(threads)
            : ExtendFromUnetSteps is not null && !Resume ? ValidationResult.Error("--extend-from-unet-steps needs --resume (it continues the run in the work folder)")
            : ValidationResult.Success();

        /// <summary>The library options these flags describe.</summary>
        public PretrainingOptions ToOptions() => new()
        {
            Seed = Seed,
            Architecture = Architecture,
            VaeSteps = VaeSteps,
            VaeBatchSize = VaeBatchSize,
            VaeLearningRate = VaeLearningRate,
            VaeHueAugment = VaeHueAugment,
            LatentImages = LatentImages,
            UnetSteps = UnetSteps,
            ExtendsUnetSteps = ExtendFromUnetSteps,
            BatchSize = BatchSize,
            LearningRate = LearningRate,
            WarmupSteps = WarmupSteps,
            CaptionDropout = CaptionDropout,
            EmaDecay = EmaDecay,
            CheckpointEvery = CheckpointEvery,
        };

        /// <summary>The command line that reproduces this run (flags that differ from the defaults, plus seed and steps).</summary>
        public string CommandLine()
        {
            var parts = new List<string> { "dreambooth tiny-world pretrain", $"--output {Output}", Inv($"--seed {Seed}") };
            void Add(string flag, object value, object defaultValue, bool always = false)
            {
                if (always || !Equals(value, defaultValue)) parts.Add(flag + " " + Convert.ToString(value, CultureInfo.InvariantCulture));
            }
            Add("--architecture", Architecture, Defaults.Architecture);
            Add("--vae-steps", VaeSteps, Defaults.VaeSteps, always: true);
            Add("--vae-batch-size", VaeBatchSize, Defaults.VaeBatchSize);
            Add("--vae-learning-rate", VaeLearningRate, Defaults.VaeLearningRate);
            Add("--vae-hue-augment", VaeHueAugment, Defaults.VaeHueAugment, always: true);
            Add("--latent-images", LatentImages, Defaults.LatentImages, always: true);
            Add("--unet-steps", UnetSteps, Defaults.UnetSteps, always: true);
            if (ExtendFromUnetSteps is int from) parts.Add(Inv($"--resume --extend-from-unet-steps {from}"));
            Add("--batch-size", BatchSize, Defaults.BatchSize, always: true);
            Add("--learning-rate", LearningRate, Defaults.LearningRate);
            Add("--warmup-steps", WarmupSteps, Defaults.WarmupSteps);
            Add("--caption-dropout", CaptionDropout, Defaults.CaptionDropout);
            Add("--ema-decay", EmaDecay, Defaults.EmaDecay);
            if (Threads > 0) parts.Add(Inv($"--threads {Threads}"));
            return string.Join(" ", parts);
        }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.Threads > 0) set_num_threads(s.Threads);
        var options = s.ToOptions();
        options.Validate();
        var command = s.CommandLine();
        Console.Error.WriteLine($"{command}\n  threads {get_num_threads()}, work folder {s.WorkDir ?? TinyWorldPretrainer.DefaultWorkDir(s.Output)}");
        var reporter = new ProgressPrinter();
        var result = TinyWorldPretrainer.Run(options, s.Output, s.WorkDir, s.Resume, command, reporter, cancellationToken);
        var time = result.Record["time"]!;
        AnsiConsole.MarkupLineInterpolated(
            $"Model written to [bold]{result.ModelDir}[/] (VAE {time["vae_wall_seconds"]} s wall / {time["vae_cpu_seconds"]} s CPU, UNet {time["diffusion_wall_seconds"]} s wall / {time["diffusion_cpu_seconds"]} s CPU).");
        return 0;
    }

    /// <summary>
    /// Prints progress as one line per stage change, message, and at most every few seconds (a redrawn line on a
    /// terminal, appended lines in a log file): stage, step/total, loss, learning rate, it/s, ETA.
    /// </summary>
    private sealed class ProgressPrinter : IProgress<PretrainingProgress>
    {
        private readonly Stopwatch _since = Stopwatch.StartNew();
        private readonly bool _terminal = !Console.IsErrorRedirected;
        private PretrainingStage? _stage;
        private bool _lineOpen;

        public void Report(PretrainingProgress p)
        {
            if (p.Message is not null)
            {
                EndLine();
                Console.Error.WriteLine(p.Message);
                return;
            }
            bool changed = p.Stage != _stage;
            bool last = p.Done == p.Total;
            if (!changed && !last && _since.Elapsed.TotalSeconds < (_terminal ? 0.5 : 30)) return;
            _since.Restart();
            _stage = p.Stage;
            var line = Format(p);
            if (_terminal)
            {
                Console.Error.Write("\r" + line.PadRight(Console.BufferWidth > 0 ? Math.Min(Console.BufferWidth - 1, 150) : 120));
                _lineOpen = true;
                if (last) EndLine();
            }
            else Console.Error.WriteLine(line);
        }

        private void EndLine()
        {
            if (!_lineOpen) return;
            Console.Error.WriteLine();
            _lineOpen = false;
        }

        private static string Format(PretrainingProgress p)
        {
            string unit = p.Stage == PretrainingStage.Latents ? "img" : "it";
            var parts = new List<string>
            {
                $"{DateTime.Now:HH:mm:ss} {p.Stage.ToString().ToLowerInvariant(),-9} {p.Done,6}/{p.Total} {(p.Total > 0 ? 100.0 * p.Done / p.Total : 0),5:F1}%",
            };
            if (p.Loss is { } loss) parts.Add(Inv($"loss {loss:F4}"));
            if (p.LearningRate is { } lr) parts.Add(Inv($"lr {lr:0.0e0}"));
            if (p.UnitsPerSecond is { } r) parts.Add(Inv($"{r:0.00} {unit}/s"));
            if (p.Eta is { } eta) parts.Add($"ETA {(int)eta.TotalHours}:{eta.Minutes:D2}:{eta.Seconds:D2}");
            return string.Join("  ", parts);
        }
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
