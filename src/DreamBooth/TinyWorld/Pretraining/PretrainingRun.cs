using System.Diagnostics;
using System.Globalization;
using DreamBooth.Tokenization;

namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>What every stage of one run shares: options, architecture, data, work folder, progress and time accounting.</summary>
internal sealed class PretrainingRun
{
    public PretrainingRun(PretrainingOptions options, string workDir, IProgress<PretrainingProgress>? progress, CancellationToken cancellationToken)
    {
        Options = options;
        WorkDir = workDir;
        Progress = progress;
        CancellationToken = cancellationToken;
        Vocabulary = TinyWorldVocabulary.Build();
        Architecture = TinyWorldArchitecture.Named(options.Architecture, Vocabulary);
        Dataset = new TinyWorldDataset(options.Seed, pretraining: true);
        Vocabulary.Write(TokenizerDir);
        Tokenizer = ClipTokenizer.FromPretrained(TokenizerDir);
    }

    public PretrainingOptions Options { get; }
    public string WorkDir { get; }
    public IProgress<PretrainingProgress>? Progress { get; }
    public CancellationToken CancellationToken { get; }
    public TinyWorldVocabulary Vocabulary { get; }
    public TinyWorldArchitecture Architecture { get; }
    public TinyWorldDataset Dataset { get; }
    public ClipTokenizer Tokenizer { get; }

    public string TokenizerDir => Path.Combine(WorkDir, "tokenizer");
    public string VaeCheckpointPath => Path.Combine(WorkDir, "vae-checkpoint.safetensors");
    public string VaeFinalPath => Path.Combine(WorkDir, "vae-final.safetensors");
    public string LatentDir => Path.Combine(WorkDir, "latents");
    public string DiffusionCheckpointPath => Path.Combine(WorkDir, "diffusion-checkpoint.safetensors");
    public string LogPath => Path.Combine(WorkDir, "log.csv");

    /// <summary>Wall and CPU seconds spent encoding latents (summed over the chunks, also those made by earlier sessions).</summary>
    public (double Wall, double Cpu) LatentSeconds { get; set; }

    public void Report(PretrainingProgress p) => Progress?.Report(p);

    public void Say(PretrainingStage stage, string message) => Report(new PretrainingProgress(stage, 0, 0, Message: message));

    /// <summary>Appends a row to <c>log.csv</c> (stage, step, loss, lr, grad_norm, wall time).</summary>
    public void Log(PretrainingStage stage, int step, double loss, double lr, double gradNorm)
    {
        bool header = !File.Exists(LogPath);
        using var w = new StreamWriter(LogPath, append: true);
        if (header) w.WriteLine("stage,step,loss,lr,grad_norm,utc");
        w.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{stage.ToString().ToLowerInvariant()},{step},{loss:R},{lr:G6},{gradNorm:G6},{DateTime.UtcNow:O}"));
    }

    /// <summary>The losses of the first <paramref name="count"/> logged steps of <paramref name="stage"/>.</summary>
    public double[] FirstLosses(PretrainingStage stage, int count)
    {
        if (!File.Exists(LogPath)) return [];
        return File.ReadLines(LogPath).Skip(1).Select(ParseRow).OfType<(PretrainingStage Stage, int Step, double Loss)>()
            .Where(r => r.Stage == stage && r.Step <= count).OrderBy(r => r.Step).Select(r => r.Loss).ToArray();
    }

    /// <summary>
    /// Keeps the log rows of <paramref name="stage"/> up to <paramref name="step"/> and those of the other stages (a
    /// resumed run rewrites the rest); drops rows that do not parse, e.g. a line torn by a kill while it was appended.
    /// </summary>
    public void TruncateLog(PretrainingStage stage, int step)
    {
        if (!File.Exists(LogPath)) return;
        var keep = File.ReadAllLines(LogPath).Where((line, i) =>
            i == 0 || ParseRow(line) is { } r && (r.Stage != stage || r.Step <= step)).ToArray();
        IO.AtomicFile.WriteAllText(LogPath, string.Join("\n", keep) + "\n");
    }

    private static (PretrainingStage Stage, int Step, double Loss)? ParseRow(string line)
    {
        var p = line.Split(',');
        if (p.Length < 6 || !Enum.TryParse<PretrainingStage>(p[0], ignoreCase: true, out var stage)) return null;
        if (!int.TryParse(p[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int step)) return null;
        if (!double.TryParse(p[2], NumberStyles.Float, CultureInfo.InvariantCulture, out double loss)) return null;
        return (stage, step, loss);
    }

    /// <summary>
    /// Stops a diverged run before the optimizer writes NaN into the weights (and the next checkpoint would overwrite
    /// the last good one): a non-finite loss or gradient norm is a one-line error naming the step and the checkpoint.
    /// </summary>
    /// <exception cref="DreamBoothException">The loss or gradient norm is NaN or infinite.</exception>
    public void CheckFinite(PretrainingStage stage, int step, double loss, double gradNorm, string checkpointPath)
    {
        if (double.IsFinite(loss) && double.IsFinite(gradNorm)) return;
        string what = double.IsFinite(loss) ? string.Create(CultureInfo.InvariantCulture, $"gradient norm is {gradNorm}") : string.Create(CultureInfo.InvariantCulture, $"loss is {loss}");
        string saved = File.Exists(checkpointPath) ? $"the last checkpoint {checkpointPath} is intact" : "no checkpoint of this stage was written yet";
        throw new DreamBoothException(string.Create(CultureInfo.InvariantCulture,
            $"tiny-world pretrain: stage {stage.ToString().ToLowerInvariant()} diverged at step {step} (the {what}); nothing was updated and {saved}: lower the learning rate and --resume"));
    }

    /// <summary>Wall and CPU seconds spent per stage, carried across resumes in checkpoint metadata.</summary>
    public sealed class Clock
    {
        private readonly Stopwatch _wall = Stopwatch.StartNew();
        private readonly TimeSpan _cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        private readonly double _wallBefore, _cpuBefore;

        public Clock(IReadOnlyDictionary<string, string>? metadata = null)
        {
            if (metadata is not null && metadata.TryGetValue("wall_seconds", out var w)) _wallBefore = double.Parse(w, CultureInfo.InvariantCulture);
            if (metadata is not null && metadata.TryGetValue("cpu_seconds", out var c)) _cpuBefore = double.Parse(c, CultureInfo.InvariantCulture);
        }

        public double WallSeconds => _wallBefore + _wall.Elapsed.TotalSeconds;
        public double CpuSeconds => _cpuBefore + (Process.GetCurrentProcess().TotalProcessorTime - _cpuStart).TotalSeconds;

        public Dictionary<string, string> Metadata() => new()
        {
            ["wall_seconds"] = WallSeconds.ToString("F1", CultureInfo.InvariantCulture),
            ["cpu_seconds"] = CpuSeconds.ToString("F1", CultureInfo.InvariantCulture),
        };
    }
}
