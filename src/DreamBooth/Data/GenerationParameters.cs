using System.Globalization;
using System.Text;

namespace DreamBooth.Data;

/// <summary>
/// Generation settings in the AUTOMATIC1111 "parameters" text format that image tools read from PNG metadata:
/// the prompt, then optionally "Negative prompt: ...", then one line "Steps: 25, Sampler: DDIM, CFG scale: 7.5,
/// Seed: 1, Size: 64x64" (further "Key: value" pairs are kept in <see cref="Extra"/>).
/// </summary>
public sealed record GenerationParameters(string Prompt)
{
    /// <summary>The PNG text keyword A1111 uses.</summary>
    public const string PngKey = "parameters";

    public string? NegativePrompt { get; init; }
    public int? Steps { get; init; }
    public string? Sampler { get; init; }
    public double? CfgScale { get; init; }
    public long? Seed { get; init; }
    public int? Width { get; init; }
    public int? Height { get; init; }

    /// <summary>Other "Key: value" pairs of the settings line, in order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Extra { get; init; } = Array.Empty<KeyValuePair<string, string>>();

    /// <summary>The text block, as A1111 writes it.</summary>
    public string Format()
    {
        var sb = new StringBuilder(Prompt);
        if (!string.IsNullOrEmpty(NegativePrompt)) sb.Append("\nNegative prompt: ").Append(NegativePrompt);
        var pairs = new List<string>();
        if (Steps is { } steps) pairs.Add($"Steps: {steps}");
        if (Sampler is { } sampler) pairs.Add($"Sampler: {sampler}");
        if (CfgScale is { } cfg) pairs.Add($"CFG scale: {cfg.ToString("0.###", CultureInfo.InvariantCulture)}");
        if (Seed is { } seed) pairs.Add($"Seed: {seed}");
        if (Width is { } w && Height is { } h) pairs.Add($"Size: {w}x{h}");
        pairs.AddRange(Extra.Select(e => $"{e.Key}: {e.Value}"));
        if (pairs.Count > 0) sb.Append('\n').Append(string.Join(", ", pairs));
        return sb.ToString();
    }

    private static readonly string[] SettingsKeys = ["Steps", "Sampler", "CFG scale", "Seed", "Size"];

    /// <summary>Parses the text block: the first line is the prompt; a "Negative prompt:" line and a settings line are optional.</summary>
    public static GenerationParameters Parse(string text)
    {
        var lines = text.Replace("\r\n", "\n").Split('\n');
        var prompt = new List<string>();
        string? negative = null, settings = null;
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.StartsWith("Negative prompt:", StringComparison.Ordinal)) negative = line["Negative prompt:".Length..].Trim();
            // The settings line: after the prompt, opening with a settings key (A1111 always starts with Steps; a file
            // written without a step count, e.g. a class image, starts with Seed or Size).
            else if (i > 0 && SettingsKeys.Any(k => line.StartsWith(k + ": ", StringComparison.Ordinal))) settings = line;
            else if (negative is null && settings is null) prompt.Add(line);
        }
        var p = new GenerationParameters(string.Join("\n", prompt).Trim()) { NegativePrompt = negative };
        if (settings is null) return p;
        var extra = new List<KeyValuePair<string, string>>();
        foreach (var part in settings.Split(", "))
        {
            int colon = part.IndexOf(':');
            if (colon < 0) continue;
            string key = part[..colon].Trim(), value = part[(colon + 1)..].Trim();
            switch (key)
            {
                case "Steps" when int.TryParse(value, CultureInfo.InvariantCulture, out var s): p = p with { Steps = s }; break;
                case "Sampler": p = p with { Sampler = value }; break;
                case "CFG scale" when double.TryParse(value, CultureInfo.InvariantCulture, out var c): p = p with { CfgScale = c }; break;
                case "Seed" when long.TryParse(value, CultureInfo.InvariantCulture, out var seed): p = p with { Seed = seed }; break;
                case "Size" when value.Split('x') is [var ws, var hs] && int.TryParse(ws, out var w) && int.TryParse(hs, out var h):
                    p = p with { Width = w, Height = h }; break;
                default: extra.Add(new(key, value)); break;
            }
        }
        return p with { Extra = extra };
    }
}
