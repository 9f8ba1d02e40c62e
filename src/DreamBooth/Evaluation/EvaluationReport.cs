using System.Globalization;
using System.Text;

namespace DreamBooth.Evaluation;

/// <summary>Scores of the images generated from one prompt.</summary>
public sealed record PromptScore(
    string Prompt,
    int Images,
    double? SubjectFidelity,
    double PromptFidelity,
    double? ClassAccuracy,
    double? Diversity,
    string PredictedContexts,
    string PredictedStyles);

/// <summary>
/// The paper's quantities on the tiny world (all similarities use the probe; see <see cref="DreamBoothEvaluator"/>):
/// <list type="bullet">
/// <item><see cref="SubjectFidelity"/> (DINO / CLIP-I analogue): mean identity-embedding cosine between every generated image and every real subject photo.</item>
/// <item><see cref="RealCeiling"/>: mean pairwise identity cosine among the real photos (the best a generator can expect).</item>
/// <item><see cref="PromptFidelity"/> (CLIP-T analogue): share of generated images whose predicted context equals the prompt's (when it names one) and whose predicted rendition equals the prompt's (photo when none is named).</item>
/// <item><see cref="Pres"/> (prior preservation): mean identity cosine between class-prompt images and the real photos; lower means the class prior survived.</item>
/// <item><see cref="Diversity"/> (DIV): mean over prompts of the mean pairwise perceptual (LPIPS-style) distance among that prompt's generated images.</item>
/// </list>
/// </summary>
public sealed record EvaluationReport
{
    public int RealImages { get; init; }
    public int GeneratedImages { get; init; }
    public int ClassImages { get; init; }
    public double? RealCeiling { get; init; }
    public double? SubjectFidelity { get; init; }
    /// <summary>Subject fidelity as a fraction of the real-images ceiling.</summary>
    public double? SubjectFidelityRatio => SubjectFidelity is { } s && RealCeiling is { } c && c > 0 ? s / c : null;
    public double PromptFidelity { get; init; }
    /// <summary>Share of generated images whose predicted class is the prompt's class noun (over prompts naming one).</summary>
    public double? ClassAccuracy { get; init; }
    /// <summary>Share whose predicted class and context both match (over prompts naming both): the base model's held-out target.</summary>
    public double? ClassAndContextAccuracy { get; init; }
    /// <summary>Accuracy per named attribute (class, color, pattern, marking, context, style) over the images whose prompt names it.</summary>
    public IReadOnlyDictionary<string, double> AttributeAccuracy { get; init; } = new Dictionary<string, double>();
    public double? Pres { get; init; }
    public double? Diversity { get; init; }
    /// <summary>DIV of the class-prompt images.</summary>
    public double? ClassDiversity { get; init; }
    public IReadOnlyList<PromptScore> Prompts { get; init; } = Array.Empty<PromptScore>();
    public string Probe { get; init; } = "";

    /// <summary>The headline rows: (metric, value, note).</summary>
    public IEnumerable<(string Metric, string Value, string Note)> Rows()
    {
        yield return ("subject fidelity", F(SubjectFidelity), SubjectFidelityRatio is { } r ? $"{r:P1} of the real-images ceiling (DINO/CLIP-I analogue)" : "DINO/CLIP-I analogue");
        yield return ("real-images ceiling", F(RealCeiling), $"mean pairwise similarity of {RealImages} real photos");
        yield return ("prompt fidelity", F(PromptFidelity), "context and rendition match the prompt (CLIP-T analogue)");
        yield return ("class accuracy", F(ClassAccuracy), "predicted class = prompt's class noun");
        yield return ("class+context accuracy", F(ClassAndContextAccuracy), "both match (prompts naming both)");
        yield return ("PRES", F(Pres), $"class images vs real photos, {ClassImages} images (lower is better)");
        yield return ("DIV", F(Diversity), "mean pairwise perceptual distance, same prompt (higher is more diverse)");
        yield return ("DIV (class images)", F(ClassDiversity), "");
    }

    /// <summary>A Markdown rendering: headline table, attribute accuracies and per-prompt table.</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.AppendLine("# DreamBooth evaluation (tiny world)").AppendLine();
        sb.AppendLine($"{GeneratedImages} generated images, {RealImages} real photos, {ClassImages} class images; probe: `{Probe}`.").AppendLine();
        sb.AppendLine("| metric | value | note |").AppendLine("|---|---:|---|");
        foreach (var (m, v, n) in Rows()) sb.AppendLine($"| {m} | {v} | {n} |");
        if (AttributeAccuracy.Count > 0)
        {
            sb.AppendLine().AppendLine("| attribute | accuracy |").AppendLine("|---|---:|");
            foreach (var (k, v) in AttributeAccuracy) sb.AppendLine($"| {k} | {F(v)} |");
        }
        if (Prompts.Count > 0)
        {
            sb.AppendLine().AppendLine("| prompt | images | subject fidelity | prompt fidelity | class acc. | DIV | predicted context | predicted rendition |");
            sb.AppendLine("|---|---:|---:|---:|---:|---:|---|---|");
            foreach (var p in Prompts)
                sb.AppendLine($"| {p.Prompt.Replace("|", "\\|")} | {p.Images} | {F(p.SubjectFidelity)} | {F(p.PromptFidelity)} | {F(p.ClassAccuracy)} | {F(p.Diversity)} | {p.PredictedContexts} | {p.PredictedStyles} |");
        }
        return sb.ToString();
    }

    /// <summary>Formats a metric with three decimals, or an en dash when it is undefined.</summary>
    public static string F(double? v) => v is { } x && !double.IsNaN(x) ? x.ToString("0.000", CultureInfo.InvariantCulture) : "–";
}
