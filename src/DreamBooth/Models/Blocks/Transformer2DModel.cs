using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Blocks;

/// <summary>
/// diffusers' <c>Transformer2DModel</c> for continuous inputs: GroupNorm (eps 1e-6) → <c>proj_in</c> → tokens [B, HW, C]
/// → <c>transformer_blocks</c> → <c>proj_out</c> → back to [B, C, H, W] → + input. SD1 projects with 1×1 convs before
/// flattening; SD2/SDXL (<c>use_linear_projection</c>) with Linear layers after flattening.
/// </summary>
public sealed class Transformer2DModel : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly GroupNorm norm;
    private readonly nn.Module<Tensor, Tensor> proj_in;
    private readonly ModuleList<BasicTransformerBlock> transformer_blocks;
    private readonly nn.Module<Tensor, Tensor> proj_out;
    private readonly bool _useLinearProjection;

    /// <param name="heads">Attention heads.</param>
    /// <param name="headDim">Channels per head (inner width = heads·headDim).</param>
    /// <param name="inChannels">Channels of the feature map.</param>
    /// <param name="numLayers">Number of transformer blocks (SDXL's transformer_layers_per_block).</param>
    /// <param name="crossAttentionDim">Channels of the encoder hidden states.</param>
    /// <param name="normNumGroups">GroupNorm groups.</param>
    /// <param name="useLinearProjection">Linear proj_in/proj_out (SD2, SDXL) instead of 1×1 convs (SD1).</param>
    /// <param name="upcastAttention">diffusers' upcast_attention.</param>
    /// <param name="dropout">Dropout inside the transformer blocks.</param>
    public Transformer2DModel(int heads, int headDim, long inChannels, int numLayers, long crossAttentionDim,
        int normNumGroups = 32, bool useLinearProjection = false, bool upcastAttention = false, double dropout = 0.0)
        : base(nameof(Transformer2DModel))
    {
        long inner = (long)heads * headDim;
        norm = Norms.GroupNorm(normNumGroups, inChannels, 1e-6);
        proj_in = useLinearProjection ? nn.Linear(inChannels, inner) : nn.Conv2d(inChannels, inner, 1, 1, 0);
        transformer_blocks = nn.ModuleList(Enumerable.Range(0, numLayers)
            .Select(_ => new BasicTransformerBlock(inner, heads, headDim, crossAttentionDim, upcastAttention, dropout)).ToArray());
        proj_out = useLinearProjection ? nn.Linear(inner, inChannels) : nn.Conv2d(inner, inChannels, 1, 1, 0);
        _useLinearProjection = useLinearProjection;
        RegisterComponents();
    }

    /// <summary>Applies the transformer to a feature map [B, C, H, W], cross-attending to
    /// <paramref name="encoderHiddenStates"/> [B, S, crossAttentionDim]. Returns [B, C, H, W].</summary>
    public override Tensor forward(Tensor hidden, Tensor? encoderHiddenStates)
    {
        using var scope = NewDisposeScope();
        long b = hidden.shape[0], h = hidden.shape[2], w = hidden.shape[3];
        var x = norm.call(hidden);
        if (!_useLinearProjection) x = proj_in.call(x);
        long inner = x.shape[1];
        x = x.permute(0, 2, 3, 1).reshape(b, h * w, inner);
        if (_useLinearProjection) x = proj_in.call(x);

        foreach (var block in transformer_blocks) x = block.call(x, encoderHiddenStates);

        if (_useLinearProjection) x = proj_out.call(x);
        x = x.reshape(b, h, w, x.shape[2]).permute(0, 3, 1, 2).contiguous();
        if (!_useLinearProjection) x = proj_out.call(x);
        return (x + hidden).MoveToOuterDisposeScope();
    }
}
