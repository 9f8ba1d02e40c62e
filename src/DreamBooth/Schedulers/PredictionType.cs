namespace DreamBooth.Schedulers;

/// <summary>What the denoising network predicts (diffusers <c>prediction_type</c>).</summary>
public enum PredictionType
{
    /// <summary><c>epsilon</c>: the added noise ε (Stable Diffusion 1.x, 2.x base).</summary>
    Epsilon,

    /// <summary><c>v_prediction</c>: v = √ᾱ·ε − √(1−ᾱ)·x₀ (Stable Diffusion 2.x 768).</summary>
    VPrediction,

    /// <summary><c>sample</c>: the clean sample x₀ itself.</summary>
    Sample,
}

/// <summary>Converts between <see cref="PredictionType"/> and the diffusers config strings.</summary>
public static class PredictionTypes
{
    /// <summary>The diffusers spelling: <c>epsilon</c>, <c>v_prediction</c>, <c>sample</c>.</summary>
    public static string ToConfigString(this PredictionType type) => type switch
    {
        PredictionType.Epsilon => "epsilon",
        PredictionType.VPrediction => "v_prediction",
        _ => "sample",
    };

    /// <summary>Parses a diffusers <c>prediction_type</c>; null when the string is not one of them.</summary>
    public static PredictionType? TryParse(string? value) => value switch
    {
        "epsilon" => PredictionType.Epsilon,
        "v_prediction" => PredictionType.VPrediction,
        "sample" => PredictionType.Sample,
        _ => null,
    };
}
