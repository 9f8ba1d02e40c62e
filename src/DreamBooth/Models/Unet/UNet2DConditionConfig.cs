using DreamBooth.Models;
using System.Text.Json.Serialization;
using DreamBooth.IO;
using DreamBooth.Models.Blocks;

namespace DreamBooth.Models.Unet;

/// <summary>
/// The <c>config.json</c> of a diffusers <c>UNet2DConditionModel</c> (SD1.x, SD2.x, SDXL). Every key diffusers 0.30
/// writes is here, with diffusers' defaults for missing keys. <see cref="Validate"/> rejects the values this port does not
/// implement (class embeddings, other block types, ...) instead of silently computing something else.
/// </summary>
public sealed record UNet2DConditionConfig : IModelConfig
{
    /// <summary>Latent height/width the model was trained at (informational).</summary>
    public IntOrList? SampleSize { get; init; }
    public int InChannels { get; init; } = 4;
    public int OutChannels { get; init; } = 4;
    /// <summary>Maps the input sample x to 2x − 1 first.</summary>
    public bool CenterInputSample { get; init; }
    /// <summary>Timestep sinusoid order: [cos, sin] when true (all SD models), [sin, cos] when false.</summary>
    public bool FlipSinToCos { get; init; } = true;
    /// <summary>Frequency shift of the timestep sinusoid (diffusers' downscale_freq_shift).</summary>
    public double FreqShift { get; init; }
    public string[] DownBlockTypes { get; init; } = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"];
    public string? MidBlockType { get; init; } = "UNetMidBlock2DCrossAttn";
    public string[] UpBlockTypes { get; init; } = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"];
    public BoolOrList OnlyCrossAttention { get; init; } = false;
    public int[] BlockOutChannels { get; init; } = [320, 640, 1280, 1280];
    /// <summary>Resnets per down block (up blocks have one more).</summary>
    public IntOrList LayersPerBlock { get; init; } = 2;
    public int DownsamplePadding { get; init; } = 1;
    /// <summary>Output scale factor of the mid block's resnets.</summary>
    public double MidBlockScaleFactor { get; init; } = 1.0;
    public double Dropout { get; init; }
    public string ActFn { get; init; } = "silu";
    public int? NormNumGroups { get; init; } = 32;
    public double NormEps { get; init; } = 1e-5;
    /// <summary>Width of the text encoder hidden states (per down block when a list).</summary>
    public IntOrList CrossAttentionDim { get; init; } = 1280;
    /// <summary>Transformer blocks per attention (SDXL uses a per-block list).</summary>
    public IntOrList TransformerLayersPerBlock { get; init; } = 1;
    public IntOrList? ReverseTransformerLayersPerBlock { get; init; }
    public int? EncoderHidDim { get; init; }
    public string? EncoderHidDimType { get; init; }
    /// <summary>Historically misnamed: the NUMBER OF HEADS per block (diffusers uses it that way for every SD config).</summary>
    public IntOrList AttentionHeadDim { get; init; } = 8;
    /// <summary>Rejected when set, as diffusers 0.30 does (the heads come from <see cref="AttentionHeadDim"/>).</summary>
    public IntOrList? NumAttentionHeads { get; init; }
    public bool DualCrossAttention { get; init; }
    /// <summary>Linear proj_in/proj_out in the transformers (SD2, SDXL) instead of 1×1 convs (SD1).</summary>
    public bool UseLinearProjection { get; init; }
    public string? ClassEmbedType { get; init; }
    /// <summary>null, or "text_time" (SDXL: pooled text embeddings + size/crop conditioning).</summary>
    public string? AdditionEmbedType { get; init; }
    public int? AdditionTimeEmbedDim { get; init; }
    public int? NumClassEmbeds { get; init; }
    public bool UpcastAttention { get; init; }
    public string ResnetTimeScaleShift { get; init; } = "default";
    public bool ResnetSkipTimeAct { get; init; }
    /// <summary>Output scale factor of the down/up blocks' resnets.</summary>
    public double ResnetOutScaleFactor { get; init; } = 1.0;
    public string TimeEmbeddingType { get; init; } = "positional";
    public int? TimeEmbeddingDim { get; init; }
    public string? TimeEmbeddingActFn { get; init; }
    public string? TimestepPostAct { get; init; }
    public int? TimeCondProjDim { get; init; }
    public int ConvInKernel { get; init; } = 3;
    public int ConvOutKernel { get; init; } = 3;
    /// <summary>Input width of <c>add_embedding</c> for "text_time" (text_embeds width + 6·addition_time_embed_dim).</summary>
    public int? ProjectionClassEmbeddingsInputDim { get; init; }
    public string AttentionType { get; init; } = "default";
    public bool ClassEmbeddingsConcat { get; init; }
    public bool? MidBlockOnlyCrossAttention { get; init; }
    public string? CrossAttentionNorm { get; init; }
    public int AdditionEmbedTypeNumHeads { get; init; } = 64;

    /// <summary>Number of down (and up) blocks.</summary>
    [JsonIgnore]
    public int BlockCount => BlockOutChannels.Length;

    /// <summary>Width of the time embedding (time_embedding_dim, or 4·block_out_channels[0]).</summary>
    [JsonIgnore]
    public int TimeEmbedDim => TimeEmbeddingDim ?? BlockOutChannels[0] * 4;

    /// <summary>Attention heads per down block (the mid block uses the last, up blocks the reverse).</summary>
    [JsonIgnore]
    public int[] AttentionHeads => AttentionHeadDim.Expand(BlockCount, "attention_head_dim");

    /// <summary>Cross-attention width per down block.</summary>
    [JsonIgnore]
    public int[] CrossAttentionDims => CrossAttentionDim.Expand(BlockCount, "cross_attention_dim");

    /// <summary>Transformer blocks per attention, per down block (the mid block uses the last).</summary>
    [JsonIgnore]
    public int[] TransformerLayers => TransformerLayersPerBlock.Expand(BlockCount, "transformer_layers_per_block");

    /// <summary>Transformer blocks per attention, per up block.</summary>
    [JsonIgnore]
    public int[] UpTransformerLayers =>
        ReverseTransformerLayersPerBlock?.Expand(BlockCount, "reverse_transformer_layers_per_block") ?? TransformerLayers.Reverse().ToArray();

    /// <summary>Resnets per down block.</summary>
    [JsonIgnore]
    public int[] LayersPerBlockList => LayersPerBlock.Expand(BlockCount, "layers_per_block");

    /// <summary>Names of the supported down block types.</summary>
    public static IReadOnlyList<string> SupportedDownBlocks { get; } = ["CrossAttnDownBlock2D", "DownBlock2D"];

    /// <summary>Names of the supported up block types.</summary>
    public static IReadOnlyList<string> SupportedUpBlocks { get; } = ["CrossAttnUpBlock2D", "UpBlock2D"];

    /// <summary>
    /// A lower bound on the model's parameter count: conv_in plus the second 3×3 convolution of every resnet (down
    /// blocks, up blocks with one more resnet each, the mid block's two). Call after <see cref="Validate"/>.
    /// </summary>
    public double MinimumParameterCount()
    {
        var boc = BlockOutChannels;
        var layers = LayersPerBlockList;
        int n = boc.Length;
        double sum = (double)boc[0] * InChannels * ConvInKernel * ConvInKernel + 2 * 9.0 * boc[^1] * boc[^1];
        for (int i = 0; i < n; i++) sum += (2.0 * layers[i] + 1) * 9.0 * boc[i] * boc[i];
        return sum;
    }

    /// <summary>
    /// Throws a one-line <see cref="DreamBoothException"/> (prefixed with <paramref name="source"/>, the config file) for
    /// inconsistent values and for every option this port does not implement.
    /// </summary>
    public void Validate(string source)
    {
        void Fail(string key, object? value, string why) =>
            throw new DreamBoothException($"{source}: key '{key}' = {Show(value)} is not supported ({why})");
        void Unsupported(string key, object? value, object? expected) =>
            Fail(key, value, $"only {Show(expected)} is implemented");

        int n = BlockCount;
        if (n == 0) Fail("block_out_channels", BlockOutChannels, "at least one block is needed");
        if (BlockOutChannels.Any(c => c <= 0)) Fail("block_out_channels", BlockOutChannels, "channels must be positive");
        if (DownBlockTypes.Length != n)
            Fail("down_block_types", DownBlockTypes, $"it must have one entry per block_out_channels entry ({n})");
        if (UpBlockTypes.Length != n)
            Fail("up_block_types", UpBlockTypes, $"it must have one entry per block_out_channels entry ({n})");
        foreach (var t in DownBlockTypes)
            if (!SupportedDownBlocks.Contains(t)) Fail("down_block_types", DownBlockTypes, $"'{t}' is not implemented; use {string.Join(" or ", SupportedDownBlocks)}");
        foreach (var t in UpBlockTypes)
            if (!SupportedUpBlocks.Contains(t)) Fail("up_block_types", UpBlockTypes, $"'{t}' is not implemented; use {string.Join(" or ", SupportedUpBlocks)}");
        if (MidBlockType != "UNetMidBlock2DCrossAttn") Unsupported("mid_block_type", MidBlockType, "UNetMidBlock2DCrossAttn");

        CheckList("layers_per_block", LayersPerBlock, n, 1);
        CheckList("attention_head_dim", AttentionHeadDim, n, 1);
        CheckList("cross_attention_dim", CrossAttentionDim, n, 1);
        CheckList("transformer_layers_per_block", TransformerLayersPerBlock, n, 1);
        if (ReverseTransformerLayersPerBlock is not null) CheckList("reverse_transformer_layers_per_block", ReverseTransformerLayersPerBlock, n, 1);
        if (OnlyCrossAttention.List is { } oca && oca.Count != n)
            Fail("only_cross_attention", OnlyCrossAttention, $"it must have one entry per block ({n})");

        if (NormNumGroups is not int groups) { Fail("norm_num_groups", null, "a GroupNorm group count is required"); return; }
        if (groups <= 0) Fail("norm_num_groups", groups, "it must be positive");
        for (int i = 0; i < n; i++)
        {
            if (BlockOutChannels[i] % groups != 0)
                Fail("norm_num_groups", groups, $"block_out_channels[{i}] = {BlockOutChannels[i]} is not divisible by it");
            int heads = AttentionHeads[i];
            bool usesAttention = DownBlockTypes[i].StartsWith("CrossAttn", StringComparison.Ordinal)
                                 || UpBlockTypes[n - 1 - i].StartsWith("CrossAttn", StringComparison.Ordinal) || i == n - 1;
            if (usesAttention && BlockOutChannels[i] % heads != 0)
                Fail("attention_head_dim", AttentionHeadDim, $"block_out_channels[{i}] = {BlockOutChannels[i]} is not divisible by {heads} heads");
        }
        if (NormEps <= 0) Fail("norm_eps", NormEps, "it must be positive");
        if (Dropout is < 0 or >= 1) Fail("dropout", Dropout, "it must be in [0, 1)");
        if (!Activations.Supported.Contains(ActFn)) Fail("act_fn", ActFn, $"use one of {string.Join(", ", Activations.Supported)}");
        if (ConvInKernel <= 0 || ConvInKernel % 2 == 0) Fail("conv_in_kernel", ConvInKernel, "it must be a positive odd number");
        if (ConvOutKernel <= 0 || ConvOutKernel % 2 == 0) Fail("conv_out_kernel", ConvOutKernel, "it must be a positive odd number");
        if (DownsamplePadding < 0) Fail("downsample_padding", DownsamplePadding, "it must not be negative");
        if (TimeEmbedDim <= 0) Fail("time_embedding_dim", TimeEmbeddingDim, "it must be positive");
        if (InChannels <= 0) Fail("in_channels", InChannels, "it must be positive");
        if (SampleSize is { } size && (size.Single is <= 0 || size.List is { } sides && (sides.Count is < 1 or > 2 || sides.Any(x => x <= 0))))
            Fail("sample_size", size, "it must be a positive latent size, or a list [height, width] of them");
        if (OutChannels <= 0) Fail("out_channels", OutChannels, "it must be positive");

        if (NumAttentionHeads is not null)
            Fail("num_attention_heads", NumAttentionHeads, "diffusers rejects it too; the head count is attention_head_dim");
        if (OnlyCrossAttention.Any) Unsupported("only_cross_attention", OnlyCrossAttention, false);
        if (MidBlockOnlyCrossAttention == true) Fail("mid_block_only_cross_attention", true, "only null or false is implemented");
        if (DualCrossAttention) Unsupported("dual_cross_attention", true, false);
        if (ClassEmbedType is not null) Unsupported("class_embed_type", ClassEmbedType, null);
        if (NumClassEmbeds is not null) Unsupported("num_class_embeds", NumClassEmbeds, null);
        if (ClassEmbeddingsConcat) Unsupported("class_embeddings_concat", true, false);
        if (EncoderHidDim is not null) Unsupported("encoder_hid_dim", EncoderHidDim, null);
        if (EncoderHidDimType is not null) Unsupported("encoder_hid_dim_type", EncoderHidDimType, null);
        if (ResnetTimeScaleShift != "default") Unsupported("resnet_time_scale_shift", ResnetTimeScaleShift, "default");
        if (ResnetSkipTimeAct) Unsupported("resnet_skip_time_act", true, false);
        if (TimeEmbeddingType != "positional") Unsupported("time_embedding_type", TimeEmbeddingType, "positional");
        if (TimeEmbeddingActFn is not null) Unsupported("time_embedding_act_fn", TimeEmbeddingActFn, null);
        if (TimestepPostAct is not null) Unsupported("timestep_post_act", TimestepPostAct, null);
        if (TimeCondProjDim is not null) Unsupported("time_cond_proj_dim", TimeCondProjDim, null);
        if (AttentionType != "default") Unsupported("attention_type", AttentionType, "default");
        if (CrossAttentionNorm is not null) Unsupported("cross_attention_norm", CrossAttentionNorm, null);

        switch (AdditionEmbedType)
        {
            case null:
                break;
            case "text_time":
                if (AdditionTimeEmbedDim is not int d || d <= 0)
                    Fail("addition_time_embed_dim", AdditionTimeEmbedDim, "addition_embed_type 'text_time' needs a positive value");
                if (ProjectionClassEmbeddingsInputDim is not int p || p <= 0)
                    Fail("projection_class_embeddings_input_dim", ProjectionClassEmbeddingsInputDim, "addition_embed_type 'text_time' needs a positive value");
                break;
            default:
                Fail("addition_embed_type", AdditionEmbedType, "only null and 'text_time' are implemented");
                break;
        }

        void CheckList(string key, IntOrList value, int count, int min)
        {
            if (value.List is { } list && list.Count != count)
                Fail(key, value, $"it must have one entry per block ({count})");
            if (value.Single is int s ? s < min : value.List!.Any(v => v < min))
                Fail(key, value, $"values must be at least {min}");
        }
    }

    private static string Show(object? value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        bool b => b ? "true" : "false",
        string[] a => "[" + string.Join(", ", a.Select(s => $"\"{s}\"")) + "]",
        int[] a => "[" + string.Join(", ", a) + "]",
        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
