using DreamBooth.Models.Clip;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>
/// Deterministic initialisation from a <see cref="Generator"/>, so that a seed fixes the starting weights whatever else
/// the process does with the global RNG (module constructors draw from it). Two schemes, each the one upstream uses:
/// <list type="bullet">
/// <item><see cref="PyTorchDefault"/> (diffusers' UNet and VAE have no init of their own): Conv2d/Linear weights
/// kaiming-uniform with a = √5, i.e. U(±1/√fan_in), biases U(±1/√fan_in); norms weight 1, bias 0.</item>
/// <item><see cref="Clip"/>: transformers' <c>CLIPPreTrainedModel._init_weights</c> for the text model.</item>
/// </list>
/// Modules are visited in <c>named_modules()</c> order, so the draws are a fixed function of the architecture.
/// </summary>
public static class WeightInitialization
{
    /// <summary>Re-initialises every Conv2d, Linear, GroupNorm, LayerNorm and Embedding of <paramref name="model"/> as PyTorch's constructors do.</summary>
    public static void PyTorchDefault(nn.Module model, Generator generator)
    {
        using var _ = no_grad();
        foreach (var (name, module) in model.named_modules())
        {
            switch (module)
            {
                case Conv2d conv:
                    UniformFanIn(conv.weight!, conv.bias, generator);
                    break;
                case Linear linear:
                    UniformFanIn(linear.weight!, linear.bias, generator);
                    break;
                case GroupNorm or LayerNorm:
                    foreach (var (pname, p) in module.named_parameters(recurse: false))
                        if (pname == "weight") p.fill_(1.0); else p.zero_();
                    break;
                case Embedding embedding:
                    embedding.weight!.normal_(0, 1, generator);
                    break;
                default:
                    if (module.named_parameters(recurse: false).Any())
                        throw new InvalidOperationException($"no initialisation rule for module '{name}' ({module.GetType().Name}) with parameters");
                    break;
            }
        }
    }

    /// <summary>
    /// transformers' CLIP text initialisation (factor = initializer_factor): token and position embeddings N(0, 0.02);
    /// q/k/v N(0, d^−½·(2L)^−½), out_proj N(0, d^−½); fc1 N(0, (2d)^−½), fc2 N(0, d^−½·(2L)^−½); Linear biases 0;
    /// LayerNorms weight 1, bias 0. The token embedding of a token that never occurs stays at its initial draw.
    /// </summary>
    public static void Clip(CLIPTextModel model, Generator generator)
    {
        var c = model.Config;
        double factor = c.InitializerFactor, d = c.HiddenSize, layers = c.NumHiddenLayers;
        double inProj = Math.Pow(d, -0.5) * Math.Pow(2 * layers, -0.5) * factor;
        double outProj = Math.Pow(d, -0.5) * factor;
        double fc1 = Math.Pow(2 * d, -0.5) * factor;
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            string leaf = name[(name.LastIndexOf('.') + 1)..];
            string owner = name[..name.LastIndexOf('.')];
            if (owner.EndsWith("_embedding", StringComparison.Ordinal)) p.normal_(0, 0.02 * factor, generator);
            else if (owner.Contains("layer_norm", StringComparison.Ordinal)) { if (leaf == "weight") p.fill_(1.0); else p.zero_(); }
            else if (leaf == "bias") p.zero_();
            else if (owner.EndsWith("q_proj", StringComparison.Ordinal) || owner.EndsWith("k_proj", StringComparison.Ordinal)
                     || owner.EndsWith("v_proj", StringComparison.Ordinal)) p.normal_(0, inProj, generator);
            else if (owner.EndsWith("out_proj", StringComparison.Ordinal)) p.normal_(0, outProj, generator);
            else if (owner.EndsWith("fc1", StringComparison.Ordinal)) p.normal_(0, fc1, generator);
            else if (owner.EndsWith("fc2", StringComparison.Ordinal)) p.normal_(0, inProj, generator);
            else throw new InvalidOperationException($"no CLIP initialisation rule for parameter '{name}'");
        }
    }

    private static void UniformFanIn(Tensor weight, Tensor? bias, Generator generator)
    {
        long fanIn = weight.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        double bound = 1.0 / Math.Sqrt(fanIn);
        weight.uniform_(-bound, bound, generator);
        bias?.uniform_(-bound, bound, generator);
    }
}
