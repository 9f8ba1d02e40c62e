using static TorchSharp.torch;

namespace DreamBooth.Models.Clip;

/// <summary>
/// What the CLIP text encoders return (transformers' <c>BaseModelOutputWithPooling</c> / <c>CLIPTextModelOutput</c> in one record).
/// </summary>
/// <param name="LastHiddenState">[B, L, hidden]: final_layer_norm of the last layer's output; what SD1.x/SD2.x feed the UNet.</param>
/// <param name="PoolerOutput">[B, hidden]: <see cref="LastHiddenState"/> at the end-of-text position of each row.</param>
/// <param name="HiddenStates">
/// When requested, num_hidden_layers + 1 tensors [B, L, hidden]: [0] = token + position embeddings, [i] = output of layer i
/// (no final layer norm). Otherwise null.
/// </param>
/// <param name="TextEmbeds">[B, projection_dim]: text_projection(PoolerOutput); only from <see cref="CLIPTextModelWithProjection"/>.</param>
public sealed record CLIPTextOutput(Tensor LastHiddenState, Tensor PoolerOutput, IReadOnlyList<Tensor>? HiddenStates = null, Tensor? TextEmbeds = null)
    : IDisposable
{
    /// <summary>Moves every tensor of this output to the enclosing dispose scope and returns this output.</summary>
    public CLIPTextOutput MoveToOuterDisposeScope()
    {
        foreach (var t in Tensors()) t.MoveToOuterDisposeScope();
        return this;
    }

    /// <summary>Disposes every tensor of this output.</summary>
    public void Dispose()
    {
        foreach (var t in Tensors()) t.Dispose();
    }

    private IEnumerable<Tensor> Tensors()
    {
        yield return LastHiddenState;
        yield return PoolerOutput;
        if (HiddenStates is not null)
            foreach (var h in HiddenStates) yield return h;
        if (TextEmbeds is not null) yield return TextEmbeds;
    }
}
