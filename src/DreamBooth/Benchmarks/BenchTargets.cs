using System.Globalization;
using System.Text.Json;
using DreamBooth.IO;

namespace DreamBooth.Benchmarks;

/// <summary>The speed and memory targets, evaluated on a run's results (reported, never asserted).</summary>
public static class BenchTargets
{
    private const double GB = 1e9;

    /// <summary>
    /// One row per target. A target is judged (Met true/false) only at 512 px outside <c>--quick</c>; otherwise the
    /// measured figure is shown with Met null.
    /// </summary>
    public static IReadOnlyList<BenchTarget> Evaluate(IReadOnlyList<BenchCaseResult> results, BenchOptions options)
    {
        bool comparable = options.Resolution == 512 && !options.Quick;
        var ok = results.Where(r => r.Status == BenchCaseResult.Ok).ToDictionary(r => r.Name, StringComparer.Ordinal);
        var rows = new List<BenchTarget>();
        void Add(string name, string target, string? measured, bool met) =>
            rows.Add(new BenchTarget(name, target, measured ?? "not measured", measured is null || !comparable ? null : met));
        string S(double v) => v.ToString("0.00", CultureInfo.InvariantCulture);

        // bf16 mixed precision vs fp32: the pair with checkpointing if both ran, else the pair without.
        foreach (var (bf, fp) in new[] { (BenchCases.FullBf16Ckpt, BenchCases.FullFp32Ckpt), (BenchCases.FullBf16, BenchCases.FullFp32) })
            if (ok.TryGetValue(bf, out var b) && ok.TryGetValue(fp, out var f))
            {
                double ratio = b.SecondsPerStep!.Value / f.SecondsPerStep!.Value;
                Add($"bf16 full step / fp32 full step ({bf} / {fp})", "≤ 0.5×", S(ratio) + "×", ratio <= 0.5);
                goto ratioDone;
            }
        Add("bf16 full step / fp32 full step", "≤ 0.5×", null, false);
        ratioDone:
        Add($"LoRA bf16 step ({BenchCases.LoraBf16})", "≤ 4 s", ok.GetValueOrDefault(BenchCases.LoraBf16)?.SecondsPerStep is double l ? S(l) + " s" : null,
            ok.GetValueOrDefault(BenchCases.LoraBf16)?.SecondsPerStep <= 4);
        foreach (var c in new[] { BenchCases.FullBf16Ckpt, BenchCases.FullFp32Ckpt })
            Add($"full fine-tune, checkpointing, peak RSS ({c})", "≤ 20 GB", Rss(ok.GetValueOrDefault(c)), ok.GetValueOrDefault(c)?.PeakRssBytes <= 20 * GB);
        foreach (var c in new[] { BenchCases.LoraBf16, BenchCases.LoraFp32 })
            Add($"LoRA peak RSS ({c})", "≤ 6 GB", Rss(ok.GetValueOrDefault(c)), ok.GetValueOrDefault(c)?.PeakRssBytes <= 6 * GB);
        Add($"guided UNet step, bf16 ({BenchCases.GuidedBf16})", "≤ 2.5 s", ok.GetValueOrDefault(BenchCases.GuidedBf16)?.SecondsPerStep is double g ? S(g) + " s" : null,
            ok.GetValueOrDefault(BenchCases.GuidedBf16)?.SecondsPerStep <= 2.5);
        var drift = ok.GetValueOrDefault(BenchCases.RssDrift)?.Extra;
        double? d = drift is not null && drift.TryGetValue("rss_drift_percent", out var dv) ? dv : null;
        rows.Add(new BenchTarget($"RSS drift over {options.RssDriftSteps} training steps ({BenchCases.RssDrift})", "within ±2 %",
            d is double x ? S(x) + " %" : "not measured", d is double y && comparable && options.RssDriftSteps >= 50 ? Math.Abs(y) <= 2 : null));
        return rows;
    }

    private static string? Rss(BenchCaseResult? r) => r?.PeakRssBytes is long b ? (b / GB).ToString("0.0", CultureInfo.InvariantCulture) + " GB" : null;

    /// <summary>The report as indented JSON with snake_case keys.</summary>
    public static string ToJson(BenchReport report) => JsonSerializer.Serialize(report, JsonOptions);

    /// <summary>Writes <see cref="ToJson"/> to <paramref name="path"/> atomically (temp file + rename), creating its folder.</summary>
    public static void Write(string path, BenchReport report)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(path, ToJson(report) + "\n");
    }

    /// <summary>The JSON settings of the report.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
