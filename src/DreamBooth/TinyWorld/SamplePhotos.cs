using System.Globalization;
using DreamBooth.Data;
using DreamBooth.IO;

namespace DreamBooth.TinyWorld;

/// <summary>Writes the demo subject's photos (<c>01.png</c> …) and a README describing them; the same arguments give the same bytes.</summary>
public static class SamplePhotos
{
    /// <summary>Writes <paramref name="count"/> photos from <paramref name="seed"/> and README.md into <paramref name="dir"/>; returns the photo paths.</summary>
    public static IReadOnlyList<string> Write(string dir, long seed = DemoSubject.PhotoSeed, int count = DemoSubject.PhotoCount)
    {
        Directory.CreateDirectory(dir);
        var paths = new List<string>();
        var photos = DemoSubject.Photos(seed, count);
        for (int i = 0; i < photos.Count; i++)
        {
            var pixels = SceneRenderer.Render(photos[i]);
            var rgb = new byte[SceneRenderer.Size * SceneRenderer.Size * 3];
            for (int p = 0; p < SceneRenderer.Size * SceneRenderer.Size; p++)
                for (int ch = 0; ch < 3; ch++)
                    rgb[3 * p + ch] = (byte)MathF.Round(pixels[ch * SceneRenderer.Size * SceneRenderer.Size + p] * 255f);
            var path = Path.Combine(dir, $"{i + 1:D2}.png");
            AtomicFile.WriteAllBytes(path, ImageIO.EncodePng(rgb, SceneRenderer.Size, SceneRenderer.Size));
            paths.Add(path);
        }
        AtomicFile.WriteAllText(Path.Combine(dir, "README.md"), Readme(seed, count));
        return paths;
    }

    private static string Readme(long seed, int count)
    {
        var a = DemoSubject.Appearance;
        string seedArg = seed == DemoSubject.PhotoSeed ? "" : $" --seed {seed.ToString(CultureInfo.InvariantCulture)}";
        string countArg = count == DemoSubject.PhotoCount ? "" : $" --count {count}";
        return $"""
            # Demo subject: {count} photos of one {DemoSubject.ClassNoun}

            These are the instance images of `dreambooth demo`: {count} photos ({SceneRenderer.Size}×{SceneRenderer.Size} PNG) of **one
            {DemoSubject.ClassNoun}** {WorldLabels.Phrase(DemoSubject.Context)}, rendered by the tiny-world generator
            (`src/DreamBooth/TinyWorld/`), with different poses, sizes, positions and facing.

            - class noun: **{DemoSubject.ClassNoun}** (class prompt: "a photo of a {DemoSubject.ClassNoun}")
            - context of the photos: **{WorldLabels.Phrase(DemoSubject.Context)}**
            - the instance: a {WorldLabels.Word(a.Color)} {DemoSubject.ClassNoun} with {WorldLabels.Word(a.PatternColor)} {WorldLabels.PluralNoun(a.Pattern)}
              and a {WorldLabels.Word(a.MarkingColor)} {WorldLabels.Noun(a.Marking)} on its side (build {a.Variant}, detail seed 0x{a.Detail:X}).
            - never seen by the base model: no pretraining scene has a {WorldLabels.Noun(a.Marking)} marking, and none has a
              {WorldLabels.Word(a.Color)} body with a {WorldLabels.Word(a.PatternColor)} pattern (`DemoSubject.Resembles`, `PretrainingPolicy`).

            Made with (bit-identical on rerun):

            ```bash
            ./dreambooth tiny-world samples --output samples{seedArg}{countArg}
            ```

            (seed {seed.ToString(CultureInfo.InvariantCulture)}, `DemoSubject.Photos(seed, count)`; this README is written by the same command.)

            """;
    }
}
