namespace DreamBooth.Benchmarks;

/// <summary>The cases of <c>dreambooth bench</c>, in the order they run.</summary>
public static class BenchCases
{
    public const string MatmulFp32 = "matmul-fp32";
    public const string MatmulBf16 = "matmul-bf16";
    public const string FullFp32 = "train-full-fp32";
    public const string FullFp32Ckpt = "train-full-fp32-ckpt";
    public const string FullBf16 = "train-full-bf16";
    public const string FullBf16Ckpt = "train-full-bf16-ckpt";
    public const string LoraFp32 = "train-lora-fp32";
    public const string LoraBf16 = "train-lora-bf16";
    public const string TextEncoder = "train-text-encoder";
    public const string GuidedFp32 = "guided-fp32";
    public const string GuidedBf16 = "guided-bf16";
    public const string ImageFp32 = "image-fp32";
    public const string ImageBf16 = "image-bf16";
    public const string TinyWorld = "tiny-world";
    public const string RssDrift = "rss-drift";

    /// <summary>Every case, in run order (the full bench).</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        MatmulFp32, MatmulBf16, TinyWorld, LoraBf16, LoraFp32, GuidedBf16, GuidedFp32, ImageBf16, ImageFp32,
        FullBf16Ckpt, FullFp32Ckpt, FullBf16, FullFp32, TextEncoder, RssDrift,
    ];

    /// <summary>The cases of <c>--quick</c>: no full fine-tune (each needs 14–18 GB at SD 1.5 scale), no fp32 image.</summary>
    public static IReadOnlyList<string> Quick { get; } = [MatmulFp32, MatmulBf16, TinyWorld, LoraBf16, GuidedBf16, GuidedFp32, ImageBf16, RssDrift];
}

/// <summary>Settings of a bench run.</summary>
public sealed record BenchOptions
{
    /// <summary>The models to build (random weights).</summary>
    public required BenchModels Models { get; init; }

    /// <summary>Image side in pixels (latents are side / 8).</summary>
    public int Resolution { get; init; } = 512;

    /// <summary>Unmeasured steps before each case's measured ones.</summary>
    public int Warmup { get; init; } = 1;

    /// <summary>Measured steps per case; the figure is their median.</summary>
    public int Iterations { get; init; } = 3;

    /// <summary>Denoising steps of the image cases.</summary>
    public int ImageSteps { get; init; } = 25;

    /// <summary>Training steps of the RSS drift case.</summary>
    public int RssDriftSteps { get; init; } = 50;

    /// <summary>The cases to run, in <see cref="BenchCases.All"/> order.</summary>
    public IReadOnlyList<string> Cases { get; init; } = BenchCases.All;

    /// <summary>Whether this is the reduced set (reported).</summary>
    public bool Quick { get; init; }

    /// <summary>What the reduced set leaves out or shrinks (reported).</summary>
    public string? Reduced { get; init; }

    /// <summary>Side of the square matmuls that measure the peak.</summary>
    public int MatmulSize { get; init; } = 2048;

    /// <summary>Share of MemAvailable a case's estimate may use before it is skipped.</summary>
    public double MemoryHeadroom { get; init; } = 0.9;

    /// <summary>Checks the values; one-line <see cref="DreamBoothException"/> naming the flag.</summary>
    public void Validate()
    {
        if (Iterations < 1) throw new DreamBoothException($"--iterations {Iterations}: must be at least 1");
        if (Warmup < 0) throw new DreamBoothException($"--warmup {Warmup}: must be 0 or more");
        if (RssDriftSteps < 2) throw new DreamBoothException($"--rss-drift-steps {RssDriftSteps}: must be at least 2");
        if (ImageSteps < 1) throw new DreamBoothException($"image steps {ImageSteps}: must be at least 1");
        int f = Models.VaeScaleFactor;
        if (Resolution < f || Resolution % f != 0) throw new DreamBoothException($"--resolution {Resolution}: must be a positive multiple of {f}");
        foreach (var c in Cases)
            if (!BenchCases.All.Contains(c)) throw new DreamBoothException($"--cases: unknown case '{c}' (known: {string.Join(", ", BenchCases.All)})");
        if (Cases.Count == 0) throw new DreamBoothException("--cases: no case selected");
    }
}
