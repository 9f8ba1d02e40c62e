using DreamBooth.IO;
using DreamBooth.Models;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Schedulers;
using DreamBooth.Tokenization;
using static TorchSharp.torch;

namespace DreamBooth.Pipelines;

/// <summary>What <see cref="ModelCheck.Run"/> found.</summary>
/// <param name="Problems">One line per problem; empty when the folder loads.</param>
/// <param name="NotLoaded">Networks whose weights were checked against their config by count only, being too large to load
/// for a check (name and parameter count).</param>
public sealed record ModelCheckResult(IReadOnlyList<string> Problems, IReadOnlyList<(string Name, long Parameters)> NotLoaded);

/// <summary>
/// Checks that a model folder loads: each network's config as loading validates it and against the parameter count
/// of its weights' headers, then, for networks up to <see cref="MaxLoadedParameters"/>, the real load (every tensor's
/// name, shape and finiteness); the tokenizer, by loading it; the scheduler config, by building the scheduler it names.
/// <c>dreambooth info --model</c> reports the result.
/// </summary>
public static class ModelCheck
{
    /// <summary>Networks up to this many parameters are loaded by the check (the tiny models at once; SD-size ones, gigabytes, are not).</summary>
    public const long MaxLoadedParameters = 50_000_000;

    /// <summary>Runs the checks.</summary>
    public static ModelCheckResult Run(ModelFolder folder)
    {
        var problems = new List<string>();
        var notLoaded = new List<(string, long)>();
        foreach (var component in folder.Components.Values.OrderBy(c => c.Name, StringComparer.Ordinal))
        {
            try
            {
                switch (component.Kind)
                {
                    case ComponentKind.Tokenizer:
                        _ = ClipTokenizer.FromPretrained(component.Directory);
                        break;
                    case ComponentKind.Scheduler:
                        SchedulerFactory.FromConfig(SchedulerConfig.Read(component.ConfigPath!)).Dispose();
                        break;
                    case ComponentKind.Model when component.Name == "unet":
                        Check<UNet2DConditionConfig>(component, notLoaded, () => UNet2DConditionModel.FromPretrained(component));
                        break;
                    case ComponentKind.Model when component.Name == "vae":
                        Check<AutoencoderKLConfig>(component, notLoaded, () => AutoencoderKL.FromPretrained(component));
                        break;
                    case ComponentKind.Model when component.Name == "text_encoder":
                        Check<CLIPTextConfig>(component, notLoaded, () => CLIPTextModel.FromPretrained(component));
                        break;
                }
            }
            catch (Exception e) when (e is DreamBoothException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
            {
                problems.Add($"{component.Name}: {e.Message}");
            }
        }
        return new ModelCheckResult(problems, notLoaded);
    }

    private static void Check<TConfig>(ModelComponent component, List<(string, long)> notLoaded, Func<nn.Module> load) where TConfig : IModelConfig
    {
        _ = Pretrained.ReadConfig<TConfig>(component);
        long parameters = component.Weights?.ParameterCount ?? 0;
        if (parameters > MaxLoadedParameters)
        {
            notLoaded.Add((component.Name, parameters));
            return;
        }
        using var model = load();
    }
}
