using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Schedulers;
using DreamBooth.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Tests.TinyWorld.Pretraining;

/// <summary>
/// A minimal text-to-image loop over a model folder (tokenizer → text encoder → the folder's scheduler with
/// classifier-free guidance → VAE decode), for tests of the pretrained model until the library pipeline is on main.
/// </summary>
internal sealed class DdimSampler : IDisposable
{
    private readonly ClipTokenizer _tokenizer;
    private readonly CLIPTextModel _textEncoder;
    private readonly UNet2DConditionModel _unet;
    private readonly AutoencoderKL _vae;
    private readonly Scheduler _scheduler;

    public DdimSampler(string modelDir)
    {
        var folder = ModelFolder.Open(modelDir);
        _tokenizer = ClipTokenizer.FromPretrained(folder["tokenizer"].Directory);
        _textEncoder = CLIPTextModel.FromPretrained(folder["text_encoder"]);
        _unet = UNet2DConditionModel.FromPretrained(folder["unet"]);
        _vae = AutoencoderKL.FromPretrained(folder["vae"]);
        _scheduler = SchedulerFactory.FromPretrained(folder["scheduler"].Directory);
    }

    /// <summary>Images [B, 3, H, W] in [0, 1] for <paramref name="prompts"/>, one seeded initial noise for the batch.</summary>
    public Tensor Sample(IReadOnlyList<string> prompts, int steps, double guidance, long seed)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var ids = _tokenizer.EncodeBatch(prompts.Concat(prompts.Select(_ => "")).ToList());
        var context = _textEncoder.forward(ids).LastHiddenState;
        long size = _unet.Config.SampleSize!.Single!.Value;
        using var g = new Generator((ulong)seed, CPU);
        var x = randn([prompts.Count, _unet.Config.InChannels, size, size], generator: g) * _scheduler.InitNoiseSigma;
        _scheduler.SetTimesteps(steps);
        foreach (var t in _scheduler.TimestepValues)
        {
            using var stepScope = NewDisposeScope();
            var input = _scheduler.ScaleModelInput(cat([x, x]), t);
            var output = _unet.forward(input, tensor((long)t), context).chunk(2);
            var guided = output[1] + guidance * (output[0] - output[1]);
            x = _scheduler.Step(guided, t, x).PrevSample.MoveToOuterDisposeScope();
        }
        var images = _vae.Decode(x / _vae.ScalingFactor);
        return ((images + 1) / 2).clamp(0, 1).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        _textEncoder.Dispose();
        _unet.Dispose();
        _vae.Dispose();
        _scheduler.Dispose();
    }
}
