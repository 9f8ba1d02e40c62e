using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Blocks;

/// <summary>
/// diffusers' <c>BasicTransformerBlock</c> as Stable Diffusion uses it (pre-LayerNorm, eps 1e-5):
/// x += attn1(norm1(x)) (self-attention); x += attn2(norm2(x), context) (cross-attention); x += ff(norm3(x)) (GEGLU).
/// </summary>
public sealed class BasicTransformerBlock : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly LayerNorm norm1;
    private readonly Attention attn1;
    private readonly LayerNorm norm2;
    private readonly Attention attn2;
    private readonly LayerNorm norm3;
    private readonly FeedForward ff;

    /// <param name="dim">Channels of the token sequence.</param>
    /// <param name="heads">Attention heads.</param>
    /// <param name="headDim">Channels per head.</param>
    /// <param name="crossAttentionDim">Channels of the encoder hidden states that attn2 attends to.</param>
    /// <param name="upcastAttention">diffusers' upcast_attention (float32 attention for half-precision inputs).</param>
    /// <param name="dropout">Dropout in the attention outputs and the feed-forward.</param>
    /// <param name="normEps">LayerNorm epsilon.</param>
    public BasicTransformerBlock(long dim, int heads, int headDim, long crossAttentionDim, bool upcastAttention = false,
        double dropout = 0.0, double normEps = 1e-5) : base(nameof(BasicTransformerBlock))
    {
        norm1 = nn.LayerNorm(dim, normEps, elementwise_affine: true);
        attn1 = new Attention(dim, null, heads, headDim, dropout, upcast: upcastAttention);
        norm2 = nn.LayerNorm(dim, normEps, elementwise_affine: true);
        attn2 = new Attention(dim, crossAttentionDim, heads, headDim, dropout, upcast: upcastAttention);
        norm3 = nn.LayerNorm(dim, normEps, elementwise_affine: true);
        ff = new FeedForward(dim, dropout: dropout);
        RegisterComponents();
    }

    /// <summary>Applies the block to tokens [B, L, dim], cross-attending to <paramref name="encoderHiddenStates"/>
    /// [B, S, crossAttentionDim] (null: attn2 attends to the tokens themselves, as diffusers does).</summary>
    public override Tensor forward(Tensor hidden, Tensor? encoderHiddenStates)
    {
        using var scope = NewDisposeScope();
        var x = attn1.call(norm1.call(hidden), null) + hidden;
        x = attn2.call(norm2.call(x), encoderHiddenStates) + x;
        x = ff.call(norm3.call(x)) + x;
        return x.MoveToOuterDisposeScope();
    }
}
