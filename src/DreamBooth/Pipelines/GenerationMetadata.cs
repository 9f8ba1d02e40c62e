using DreamBooth.Data;

namespace DreamBooth.Pipelines;

/// <summary>The A1111-style "parameters" record of one generated image (stored as PNG text metadata).</summary>
public static class GenerationMetadata
{
    /// <summary>
    /// The parameters of image <paramref name="index"/> of <paramref name="request"/> (which must have its seed):
    /// prompt, negative prompt, steps, sampler, CFG scale, seed, size, then <c>Model</c>, and <c>Clip skip</c>
    /// (A1111's numbering: ours + 1) and <c>Guidance rescale</c> when used, and <c>Lora</c>, <c>Lora scale</c> when a
    /// LoRA (<paramref name="lora"/>: its name and the scale it was merged with) was applied.
    /// </summary>
    public static GenerationParameters For(GenerationRequest request, int index, string sampler, string model, int width, int height,
        (string Name, double Scale)? lora = null)
    {
        var extra = new List<KeyValuePair<string, string>> { new("Model", model) };
        if (lora is { } l)
        {
            extra.Add(new("Lora", l.Name));
            extra.Add(new("Lora scale", l.Scale.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        if (request.ClipSkip > 0) extra.Add(new("Clip skip", (request.ClipSkip + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        if (request.UsesGuidance && request.GuidanceRescale > 0)
            extra.Add(new("Guidance rescale", request.GuidanceRescale.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)));
        return new GenerationParameters(request.PromptOf(index))
        {
            NegativePrompt = request.NegativePromptOf(index),
            Steps = request.Steps,
            Sampler = sampler,
            CfgScale = request.GuidanceScale,
            Seed = request.SeedOf(index),
            Width = width,
            Height = height,
            Extra = extra,
        };
    }
}
