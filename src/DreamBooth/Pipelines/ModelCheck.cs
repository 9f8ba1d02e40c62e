using DreamBooth.IO;
using DreamBooth.Models;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Models.Vae;
using DreamBooth.Schedulers;
using DreamBooth.Tokenization;

namespace DreamBooth.Pipelines;

/// <summary>
/// Checks a model folder without building its networks (cheap even for SD-size models): each network's config as
/// loading validates it, and against the parameter count its weights' headers give; the tokenizer, by loading it;
/// the scheduler config, by building the scheduler it names. <c>dreambooth info --model</c> reports the result.
/// </summary>
public static class ModelCheck
{
    /// <summary>One line per problem (empty when everything that can be checked without the weights' values is fine).</summary>
    public static IReadOnlyList<string> Problems(ModelFolder folder)
    {
        var problems = new List<string>();
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
                        _ = Pretrained.ReadConfig<UNet2DConditionConfig>(component);
                        break;
                    case ComponentKind.Model when component.Name == "vae":
                        _ = Pretrained.ReadConfig<AutoencoderKLConfig>(component);
                        break;
                    case ComponentKind.Model when component.Name == "text_encoder":
                        _ = Pretrained.ReadConfig<CLIPTextConfig>(component);
                        break;
                }
            }
            catch (Exception e) when (e is DreamBoothException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
            {
                problems.Add($"{component.Name}: {e.Message}");
            }
        }
        return problems;
    }
}
