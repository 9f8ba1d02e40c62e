using System.Text.Json;
using System.Text.RegularExpressions;
using DreamBooth.IO;
using DreamBooth.Pipelines;
using DreamBooth.Tests.Infrastructure;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Pipelines;

/// <summary>
/// diffusers' StableDiffusionPipeline end to end (README §6): every case listed in facts.json <c>pipelines</c>, with its
/// prompts, negative prompts, guidance, steps, size, eta and components taken from the fixture, and <c>latents_in</c>
/// as the initial latents. Compared: prompt and negative embeddings, each step's timestep and latents, the raw VAE
/// decode and the final image.
/// </summary>
public class PipelineGoldenTests
{
    // README tolerances: text encoder atol 1e-5; pipeline latents/images: upstream itself moves them by ≤ 3e-5 between
    // thread counts, so latents get UNet-level 1e-4 (relative to |x| above 1) and images 2e-4.
    private const double EmbedsAtol = 1e-5;
    private const double LatentsAtol = 1e-4;
    private const double ImageAtol = 2e-4;

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var p in Golden.Facts.GetProperty("pipelines").EnumerateObject()) data.Add(p.Name);
        return data;
    }

    [Theory, Trait("Category", Golden.Category)]
    [MemberData(nameof(Cases))]
    public void Pipeline_matches_diffusers(string name)
    {
        var facts = Golden.Facts.GetProperty("pipelines").GetProperty(name);
        var expected = Golden.Outputs("pipeline_" + name);
        try
        {
            using var model = StableDiffusionModel.Load(ComponentsOf(facts.GetProperty("components").GetString()!));
            var pipeline = new StableDiffusionPipeline(model);
            var prompts = Strings(facts.GetProperty("prompt"))!;
            var negatives = Strings(facts.GetProperty("negative_prompt"));
            var latentsIn = expected["latents_in"];
            var request = new GenerationRequest
            {
                Prompts = prompts,
                NegativePrompts = negatives,
                GuidanceScale = facts.GetProperty("guidance_scale").GetDouble(),
                Steps = facts.GetProperty("num_inference_steps").GetInt32(),
                Height = facts.GetProperty("height").GetInt32(),
                Width = facts.GetProperty("width").GetInt32(),
                Eta = facts.GetProperty("eta").GetDouble(),
                Latents = latentsIn,
                BatchSize = (int)latentsIn.shape[0],
                Seed = 0,
                ReturnLatents = true,
            };

            // 1. text embeddings (what the run below computes internally)
            using (var embeds = pipeline.EncodePrompts(prompts, negatives, request.UsesGuidance))
            {
                Golden.AssertClose(embeds.PromptEmbeds, expected["prompt_embeds"], EmbedsAtol, 0, "prompt_embeds");
                if (expected.TryGetValue("negative_prompt_embeds", out var negativeEmbeds))
                    Golden.AssertClose(embeds.NegativePromptEmbeds!, negativeEmbeds, EmbedsAtol, 0, "negative_prompt_embeds");
                else
                    Assert.Null(embeds.NegativePromptEmbeds);
            }

            // 2. the denoising loop, step by step
            var steps = new List<(double T, Tensor Latents)>();
            using var result = pipeline.Generate(request with { OnStepEnd = s => steps.Add((s.Timestep, s.Latents.clone().DetachFromDisposeScope())) });
            try
            {
                var timesteps = facts.GetProperty("timesteps").EnumerateArray().Select(t => t.GetDouble()).ToArray();
                Assert.Equal(timesteps, steps.Select(s => s.T).ToArray());
                Assert.Equal(expected.Keys.Count(k => Regex.IsMatch(k, @"^step\d+\.t$")), steps.Count);
                for (int i = 0; i < steps.Count; i++)
                {
                    Assert.Equal(expected[$"step{i}.t"].to(float64).item<double>(), steps[i].T);
                    Golden.AssertClose(steps[i].Latents, expected[$"step{i}.latents_after"], LatentsAtol, LatentsAtol, $"step{i}.latents_after");
                }

                // 3. decode and image
                using var decoded = pipeline.DecodeLatents(result.Latents!);
                Golden.AssertClose(decoded, expected["decoded_raw"], ImageAtol, 0, "decoded_raw");
                using var nhwc = result.Images.permute(0, 2, 3, 1);
                Golden.AssertClose(nhwc, expected["image"], ImageAtol, 0, "image");
                var shape = facts.GetProperty("image_shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
                Assert.Equal(shape, nhwc.shape);
            }
            finally
            {
                foreach (var s in steps) s.Latents.Dispose();
            }
        }
        finally
        {
            foreach (var t in expected.Values) t.Dispose();
        }
    }

    /// <summary>
    /// Reads a facts.json component description: terms joined by '+', each a model folder ("tiny-sd1") or a component
    /// folder ("tiny-sd2/unet"), with remarks in parentheses ignored. Whole folders come first; components replace theirs.
    /// </summary>
    internal static StableDiffusionComponents ComponentsOf(string description)
    {
        var terms = Regex.Replace(description, @"\([^)]*\)", "").Split('+', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        StableDiffusionComponents? components = null;
        var parts = new Dictionary<string, ModelComponent>();
        foreach (var term in terms)
        {
            if (term.Contains('/'))
            {
                var component = ModelComponent.Open(Golden.PathOf(term.Split('/')));
                parts[component.Name] = component;
            }
            else
            {
                Assert.Null(components);
                components = StableDiffusionComponents.FromFolder(ModelFolder.Open(Golden.PathOf(term)));
            }
        }
        if (components is null)
        {
            var missing = StableDiffusionComponents.Names.Where(n => !parts.ContainsKey(n)).ToList();
            Assert.True(missing.Count == 0, $"'{description}' names no {string.Join(", ", missing)}");
            return new StableDiffusionComponents(parts["tokenizer"], parts["text_encoder"], parts["unet"], parts["vae"], parts["scheduler"]);
        }
        return parts.Values.Aggregate(components, (c, part) => c.With(part));
    }

    private static IReadOnlyList<string>? Strings(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => [value.GetString()!],
        _ => value.EnumerateArray().Select(v => v.GetString()!).ToList(),
    };
}
