using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.TinyWorld;

/// <summary>One dataset item: the scene and its caption.</summary>
public sealed record WorldExample(long Index, SceneSpec Scene, CaptionParts Caption)
{
    /// <summary>The caption text.</summary>
    public string Text => Caption.ToString();
}

/// <summary>
/// An endless, random-access stream of (image, caption) pairs: item <c>i</c> depends only on (seed, i), so training
/// can resume at any index and workers can render disjoint ranges. With <c>pretraining: true</c> (the default) the
/// stream follows <see cref="PretrainingPolicy"/> (rejection sampling on the item's own random stream); otherwise it
/// covers the full world. Images are float32 [3, 64, 64] in [-1, 1] (the VAE's input range).
/// </summary>
public sealed class TinyWorldDataset
{
    private const ulong SceneStream = 0, CaptionStream = 1;

    public TinyWorldDataset(long seed, bool pretraining = true)
    {
        Seed = seed;
        Pretraining = pretraining;
    }

    public long Seed { get; }
    public bool Pretraining { get; }

    /// <summary>Scene and caption of item <paramref name="index"/> (no rendering).</summary>
    public WorldExample Example(long index)
    {
        var rng = WorldRandom.For(Seed, index, SceneStream);
        SceneSpec scene;
        do scene = SceneSampler.SampleScene(ref rng);
        while (Pretraining && !PretrainingPolicy.Allows(scene));
        var captionRng = WorldRandom.For(Seed, index, CaptionStream);
        return new WorldExample(index, scene, Captioner.Caption(scene, ref captionRng));
    }

    /// <summary>Item <paramref name="index"/>: image [3, 64, 64] in [-1, 1] and caption.</summary>
    public (Tensor Image, string Caption) GetItem(long index)
    {
        var ex = Example(index);
        return (ToModelRange(SceneRenderer.Render(ex.Scene), 3, SceneRenderer.Size, SceneRenderer.Size), ex.Text);
    }

    /// <summary>
    /// Items <paramref name="start"/> … start+count−1: images [count, 3, 64, 64] in [-1, 1] and captions, rendered on up
    /// to <paramref name="parallelism"/> threads (the result does not depend on it).
    /// </summary>
    public (Tensor Images, string[] Captions) GetBatch(long start, int count, int parallelism = 1)
    {
        var examples = new WorldExample[count];
        var pixels = new float[count * 3 * SceneRenderer.Size * SceneRenderer.Size];
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallelism) }, k =>
        {
            examples[k] = Example(start + k);
            SceneRenderer.Render(examples[k].Scene).CopyTo(pixels, k * 3 * SceneRenderer.Size * SceneRenderer.Size);
        });
        return (ToModelRange(pixels, count, 3, SceneRenderer.Size, SceneRenderer.Size), examples.Select(e => e.Text).ToArray());
    }

    private static Tensor ToModelRange(float[] pixels, params long[] shape)
    {
        for (int i = 0; i < pixels.Length; i++) pixels[i] = pixels[i] * 2 - 1;
        return tensor(pixels, shape);
    }
}
