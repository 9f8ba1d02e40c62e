using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Schedulers;
using DreamBooth.Tokenization;
using static TorchSharp.torch;

namespace DreamBooth.Pipelines;

/// <summary>
/// A loaded Stable Diffusion 1.x/2.x model: CLIP tokenizer, CLIP text encoder, UNet, VAE and the scheduler config that
/// the model ships with. Load one from a diffusers folder (<see cref="Load(string, ScalarType?, ModelFolderOptions?)"/>),
/// from mixed component folders (<see cref="Load(StableDiffusionComponents, ScalarType?, string?)"/>), or wrap modules
/// that are already in memory, e.g. the UNet being trained (the constructor). The networks are used as they are (mode,
/// device, dtype); the model checks at construction that they fit together.
/// </summary>
public sealed class StableDiffusionModel : IDisposable
{
    private readonly bool _ownsModules;
    private bool _disposed;

    /// <summary>
    /// Wraps components that are already loaded. With <paramref name="ownsModules"/> (the default) <see cref="Dispose"/>
    /// disposes the three networks; pass false for modules that live on elsewhere (a trainer's UNet).
    /// </summary>
    /// <exception cref="DreamBoothException">The components do not fit together (text width vs. cross-attention width,
    /// latent channels, an SDXL-style UNet).</exception>
    public StableDiffusionModel(ClipTokenizer tokenizer, CLIPTextModel textEncoder, UNet2DConditionModel unet, AutoencoderKL vae,
        SchedulerConfig schedulerConfig, string name = "model", bool ownsModules = true)
    {
        Tokenizer = tokenizer;
        TextEncoder = textEncoder;
        Unet = unet;
        Vae = vae;
        SchedulerConfig = schedulerConfig;
        Name = name;
        _ownsModules = ownsModules;
        CheckCompatible();
    }

    /// <summary>A short name for metadata (the model folder's name).</summary>
    public string Name { get; }

    /// <summary>The CLIP tokenizer.</summary>
    public ClipTokenizer Tokenizer { get; }

    /// <summary>The CLIP text encoder.</summary>
    public CLIPTextModel TextEncoder { get; }

    /// <summary>The denoising UNet.</summary>
    public UNet2DConditionModel Unet { get; }

    /// <summary>The autoencoder (latents ↔ images).</summary>
    public AutoencoderKL Vae { get; }

    /// <summary>The model's own <c>scheduler_config.json</c>: the default sampler, and the base config for any other.</summary>
    public SchedulerConfig SchedulerConfig { get; }

    /// <summary>The UNet's parameter dtype (the dtype the model was loaded in).</summary>
    public ScalarType DType => Unet.parameters().First().dtype;

    /// <summary>The device the UNet is on; inputs are moved there.</summary>
    public Device Device => Unet.parameters().First().device;

    /// <summary>Pixels per latent pixel: 2^(number of VAE blocks − 1) (8 for Stable Diffusion).</summary>
    public int VaeScaleFactor => 1 << (Vae.Config.BlockOutChannels.Length - 1);

    /// <summary>Channels of the latents (4 for Stable Diffusion).</summary>
    public int LatentChannels => Unet.Config.InChannels;

    /// <summary>The image size the UNet was trained at: its <c>sample_size</c> × <see cref="VaeScaleFactor"/> (512 for SD1.5).</summary>
    public (int Height, int Width) DefaultSize
    {
        get
        {
            // diffusers falls back to 64 latent pixels when a UNet config has no sample_size.
            var size = Unet.Config.SampleSize;
            int h = size?.Single ?? size?.List?[0] ?? 64;
            int w = size?.Single ?? size?.List?[^1] ?? 64;
            return (h * VaeScaleFactor, w * VaeScaleFactor);
        }
    }

    /// <summary>
    /// A sampler for this model: the class its scheduler config names when <paramref name="name"/> is null, else the
    /// scheduler called <paramref name="name"/> (<see cref="SchedulerFactory.Names"/>) built from that config. The caller disposes it.
    /// </summary>
    /// <exception cref="DreamBoothException">Unknown name or unsupported config.</exception>
    public Scheduler CreateScheduler(string? name = null) => SchedulerFactory.Create(name, SchedulerConfig);

    /// <summary>
    /// Opens a diffusers pipeline folder and loads its tokenizer, text encoder, UNet, VAE and scheduler config, the
    /// networks converted to <paramref name="dtype"/> (default float32).
    /// </summary>
    /// <exception cref="DreamBoothException">Missing or unreadable folder, a missing component, bad configs or weights.</exception>
    public static StableDiffusionModel Load(string path, ScalarType? dtype = null, ModelFolderOptions? options = null) =>
        Load(ModelFolder.Open(path, options), dtype);

    /// <summary>Loads the components of an opened model folder (see <see cref="Load(string, ScalarType?, ModelFolderOptions?)"/>).</summary>
    public static StableDiffusionModel Load(ModelFolder folder, ScalarType? dtype = null) =>
        Load(StableDiffusionComponents.FromFolder(folder), dtype, NameOf(folder.Root));

    /// <summary>
    /// Loads a set of component folders (possibly from different models), the networks in <paramref name="dtype"/>
    /// (default float32). <paramref name="name"/> defaults to the UNet's model folder name.
    /// </summary>
    public static StableDiffusionModel Load(StableDiffusionComponents components, ScalarType? dtype = null, string? name = null)
    {
        var tokenizer = ClipTokenizer.FromPretrained(components.Tokenizer.Directory);
        var schedulerConfig = SchedulerConfig.Read(components.Scheduler.ConfigPath ?? components.Scheduler.Directory);
        CLIPTextModel? textEncoder = null;
        UNet2DConditionModel? unet = null;
        AutoencoderKL? vae = null;
        try
        {
            textEncoder = CLIPTextModel.FromPretrained(components.TextEncoder, dtype);
            unet = UNet2DConditionModel.FromPretrained(components.Unet, dtype);
            vae = AutoencoderKL.FromPretrained(components.Vae, dtype);
            return new StableDiffusionModel(tokenizer, textEncoder, unet, vae, schedulerConfig,
                name ?? NameOf(Path.GetDirectoryName(Path.GetFullPath(components.Unet.Directory)) ?? components.Unet.Directory));
        }
        catch
        {
            textEncoder?.Dispose();
            unet?.Dispose();
            vae?.Dispose();
            throw;
        }
    }

    /// <summary>Disposes the networks when this model owns them.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_ownsModules) return;
        TextEncoder.Dispose();
        Unet.Dispose();
        Vae.Dispose();
    }

    private static string NameOf(string path) => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)));

    private void CheckCompatible()
    {
        var unet = Unet.Config;
        if (unet.AdditionEmbedType is not null)
            throw new DreamBoothException($"{Name}: the UNet has addition_embed_type '{unet.AdditionEmbedType}' (SDXL-style); this pipeline runs Stable Diffusion 1.x/2.x UNets only");
        if (unet.TimeCondProjDim is not null)
            throw new DreamBoothException($"{Name}: the UNet has time_cond_proj_dim (a guidance-distilled model); this pipeline does not support it");
        int textWidth = TextEncoder.Config.HiddenSize;
        if (unet.CrossAttentionDims.Any(d => d != textWidth))
            throw new DreamBoothException($"{Name}: the text encoder's hidden_size {textWidth} does not match the UNet's cross_attention_dim {unet.CrossAttentionDim}");
        if (unet.InChannels != Vae.Config.LatentChannels || unet.OutChannels != Vae.Config.LatentChannels)
            throw new DreamBoothException($"{Name}: the UNet has in/out channels {unet.InChannels}/{unet.OutChannels} but the VAE has {Vae.Config.LatentChannels} latent channels");
        if (Tokenizer.ModelMaxLength > TextEncoder.Config.MaxPositionEmbeddings)
            throw new DreamBoothException($"{Name}: the tokenizer's model_max_length {Tokenizer.ModelMaxLength} exceeds the text encoder's max_position_embeddings {TextEncoder.Config.MaxPositionEmbeddings}");
    }
}
