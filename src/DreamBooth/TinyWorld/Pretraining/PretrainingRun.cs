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
        var name = stage.ToString().ToLowerInvariant();
        return File.ReadLines(LogPath).Skip(1).Select(l => l.Split(','))
            .Where(p => p[0] == name && int.Parse(p[1], CultureInfo.InvariantCulture) <= count)
            .OrderBy(p => int.Parse(p[1], CultureInfo.InvariantCulture))
            .Select(p => double.Parse(p[2], CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>Keeps the log rows of <paramref name="stage"/> up to <paramref name="step"/> (a resumed run rewrites the rest).</summary>
    public void TruncateLog(PretrainingStage stage, int step)
    {
        if (!File.Exists(LogPath)) return;
        var name = stage.ToString().ToLowerInvariant();
        var keep = File.ReadAllLines(LogPath).Where((line, i) =>
        {
            if (i == 0) return true;
            var parts = line.Split(',');
            return parts[0] != name || int.Parse(parts[1], CultureInfo.InvariantCulture) <= step;
        }).ToArray();
        IO.AtomicFile.WriteAllText(LogPath, string.Join("\n", keep) + "\n");
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
