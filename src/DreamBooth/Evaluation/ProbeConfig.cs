namespace DreamBooth.Evaluation;

/// <summary>
/// The probe's architecture (<c>config.json</c> beside <c>model.safetensors</c>). Two small CNNs of stride-2 stages
/// (3×3 convolutions, batch normalisation, SiLU): the <em>scene</em> trunk sees the whole 64×64 image (context, rendition, and a
/// 16×16 subject-mask head); the <em>subject</em> network sees a <see cref="CropSize"/>² crop centred on the subject,
/// cut out with the mask, so that what the subject looks like is learnt independently of where it stands and how big
/// it is. Both are pooled (mean and max) into the penultimate features (the image embedding), which feed one linear
/// head per <see cref="ProbeTasks"/> entry and the identity head (the subject embedding).
/// </summary>
public sealed record ProbeConfig
{
    /// <summary>Channels of the scene trunk's four stages (64→32→16→8→4 pixels).</summary>
    public int[] SceneChannels { get; init; } = { 16, 32, 64, 64 };

    /// <summary>Channels of the subject network's stages (crop → /2 → /4 → /8 pixels).</summary>
    public int[] SubjectChannels { get; init; } = { 32, 64, 96 };

    /// <summary>Side of the subject crop in pixels.</summary>
    public int CropSize { get; init; } = 48;

    /// <summary>Width of the penultimate features (the general image embedding).</summary>
    public int FeatureDim { get; init; } = 128;

    /// <summary>Width of the identity (subject) embedding.</summary>
    public int IdentityDim { get; init; } = 64;

    /// <summary>Input resolution; other sizes are resized to it.</summary>
    public int ImageSize { get; init; } = 64;

    /// <summary>Label count per head, by head name (must match <see cref="ProbeTasks.All"/>).</summary>
    public Dictionary<string, int> Heads { get; init; } = ProbeTasks.All.ToDictionary(t => t.Name, t => t.Labels.Count);

    /// <summary>Throws a one-line <see cref="DreamBoothException"/> naming <paramref name="source"/> and the key for values the network cannot be built from.</summary>
    public void Validate(string source)
    {
        void Fail(string key, object? value, string why) => throw new DreamBoothException($"{source}: key '{key}' = {value} is not valid ({why})");
        static string List(int[]? v) => v is null ? "null" : "[" + string.Join(", ", v) + "]";
        // The mask head reads the scene trunk's second stage; the subject network needs its crop to survive its stages.
        if (SceneChannels is not { Length: >= 2 } || SceneChannels.Any(c => c <= 0)) Fail("scene_channels", List(SceneChannels), "two or more positive channel counts");
        if (SubjectChannels is not { Length: > 0 and <= 10 } || SubjectChannels.Any(c => c <= 0)) Fail("subject_channels", List(SubjectChannels), "1 to 10 positive channel counts");
        if (ImageSize < 16 || ImageSize > 1024) Fail("image_size", ImageSize, "from 16 to 1024 pixels");
        int minCrop = 1 << SubjectChannels!.Length;
        if (CropSize < minCrop || CropSize > ImageSize) Fail("crop_size", CropSize, $"from {minCrop} (one pixel after the subject network's stages) to image_size ({ImageSize})");
        if (FeatureDim <= 0 || FeatureDim > 65536) Fail("feature_dim", FeatureDim, "a positive width up to 65536");
        if (IdentityDim <= 0 || IdentityDim > 65536) Fail("identity_dim", IdentityDim, "a positive width up to 65536");
        if (Heads is null) Fail("heads", "null", "a label count per head");
    }
}
