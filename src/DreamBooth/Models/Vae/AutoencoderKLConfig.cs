using DreamBooth.Models;
using DreamBooth.IO;
using DreamBooth.Models.Blocks;

namespace DreamBooth.Models.Vae;

/// <summary>
/// The <c>config.json</c> of a diffusers <c>AutoencoderKL</c>, with diffusers' defaults for missing keys.
/// <see cref="Validate"/> rejects what this port does not implement.
/// </summary>
public sealed record AutoencoderKLConfig : IModelConfig
{
    public int InChannels { get; init; } = 3;
    public int OutChannels { get; init; } = 3;
    public string[] DownBlockTypes { get; init; } = ["DownEncoderBlock2D"];
    public string[] UpBlockTypes { get; init; } = ["UpDecoderBlock2D"];
    public int[] BlockOutChannels { get; init; } = [64];
    /// <summary>Resnets per encoder block (decoder blocks have one more).</summary>
    public int LayersPerBlock { get; init; } = 1;
    public string ActFn { get; init; } = "silu";
    public int LatentChannels { get; init; } = 4;
    public int NormNumGroups { get; init; } = 32;
    /// <summary>Image size the model was trained at (informational).</summary>
    public IntOrList? SampleSize { get; init; } = 32;
    /// <summary>Latents are multiplied by this after encoding for the diffusion model (SD1/2: 0.18215, SDXL: 0.13025).</summary>
    public double ScalingFactor { get; init; } = 0.18215;
    /// <summary>Subtracted from latents before scaling, when present (SD3/Flux-style VAEs).</summary>
    public double? ShiftFactor { get; init; }
    public double[]? LatentsMean { get; init; }
    public double[]? LatentsStd { get; init; }
    /// <summary>diffusers runs this VAE in float32 even in half-precision pipelines (carried for pipelines to honour).</summary>
    public bool ForceUpcast { get; init; } = true;
    public bool UseQuantConv { get; init; } = true;
    public bool UsePostQuantConv { get; init; } = true;
    public bool MidBlockAddAttention { get; init; } = true;

    /// <summary>Throws a one-line <see cref="DreamBoothException"/> (prefixed with <paramref name="source"/>) for
    /// inconsistent or unsupported values.</summary>
    public void Validate(string source)
    {
        void Fail(string key, string value, string why) => throw new DreamBoothException($"{source}: key '{key}' = {value} is not supported ({why})");
        string List<T>(IEnumerable<T> values) => "[" + string.Join(", ", values.Select(v => v is string s ? $"\"{s}\"" : v?.ToString())) + "]";

        int n = BlockOutChannels.Length;
        if (n == 0) Fail("block_out_channels", "[]", "at least one block is needed");
        if (DownBlockTypes.Length != n) Fail("down_block_types", List(DownBlockTypes), $"it must have one entry per block_out_channels entry ({n})");
        if (UpBlockTypes.Length != n) Fail("up_block_types", List(UpBlockTypes), $"it must have one entry per block_out_channels entry ({n})");
        if (DownBlockTypes.Any(t => t != "DownEncoderBlock2D")) Fail("down_block_types", List(DownBlockTypes), "only DownEncoderBlock2D is implemented");
        if (UpBlockTypes.Any(t => t != "UpDecoderBlock2D")) Fail("up_block_types", List(UpBlockTypes), "only UpDecoderBlock2D is implemented");
        if (NormNumGroups <= 0) Fail("norm_num_groups", NormNumGroups.ToString(), "it must be positive");
        foreach (var c in BlockOutChannels)
            if (c <= 0 || c % NormNumGroups != 0)
                Fail("block_out_channels", List(BlockOutChannels), $"every entry must be a positive multiple of norm_num_groups ({NormNumGroups})");
        if (LayersPerBlock < 1) Fail("layers_per_block", LayersPerBlock.ToString(), "it must be at least 1");
        if (LatentChannels <= 0) Fail("latent_channels", LatentChannels.ToString(), "it must be positive");
        if (InChannels <= 0) Fail("in_channels", InChannels.ToString(), "it must be positive");
        if (OutChannels <= 0) Fail("out_channels", OutChannels.ToString(), "it must be positive");
        if (!Activations.Supported.Contains(ActFn)) Fail("act_fn", $"\"{ActFn}\"", $"use one of {string.Join(", ", Activations.Supported)}");
        if (!(ScalingFactor > 0) || double.IsInfinity(ScalingFactor)) Fail("scaling_factor", ScalingFactor.ToString("R"), "it must be a positive number");
    }
}
