using System.Globalization;
using DreamBooth.Data;
using DreamBooth.IO;

namespace DreamBooth.TinyWorld;

/// <summary>Writes the demo subject's photos (<c>01.png</c> …) and a README describing them; the same arguments give the same bytes.</summary>
public static class SamplePhotos
{
    /// <summary>
    /// Writes <paramref name="count"/> photos from <paramref name="seed"/> and README.md into <paramref name="dir"/>; returns
    /// the photo paths. A file already there with other content is replaced only with <paramref name="overwrite"/>
    /// (checked before anything is written); identical files are simply rewritten, so regenerating the shipped set in place works.
    /// </summary>
    /// <exception cref="DreamBoothException">A file would change and <paramref name="overwrite"/> is false, or the seed is negative.</exception>
    public static IReadOnlyList<string> Write(string dir, long seed = DemoSubject.PhotoSeed, int count = DemoSubject.PhotoCount, bool overwrite = false)
    {
        if (seed < 0) throw new DreamBoothException($"--seed {seed}: must be zero or positive");
        var files = new List<(string Path, byte[] Bytes)>();
        var photos = DemoSubject.Photos(seed, count);
        for (int i = 0; i < photos.Count; i++)
        {
            var pixels = SceneRenderer.Render(photos[i]);
            var rgb = new byte[SceneRenderer.Size * SceneRenderer.Size * 3];
            for (int p = 0; p < SceneRenderer.Size * SceneRenderer.Size; p++)
                for (int ch = 0; ch < 3; ch++)
                    rgb[3 * p + ch] = (byte)MathF.Round(pixels[ch * SceneRenderer.Size * SceneRenderer.Size + p] * 255f);
            files.Add((Path.Combine(dir, $"{i + 1:D2}.png"), ImageIO.EncodePng(rgb, SceneRenderer.Size, SceneRenderer.Size)));
        }
        files.Add((Path.Combine(dir, "README.md"), new System.Text.UTF8Encoding(false).GetBytes(Readme(seed, count))));
        // Photos numbered beyond this count (an earlier, larger set) would stay beside the new ones, and every consumer
        // reads the whole folder: they count as content that changes.
        var extra = !Directory.Exists(dir) ? [] : Directory.EnumerateFiles(dir, "*.png")
            .Where(f => int.TryParse(Path.GetFileNameWithoutExtension(f), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > count).ToList();
        foreach (var (path, _) in files)
            if (Directory.Exists(path)) throw new DreamBoothException($"{path}: is a folder, cannot write a file there");
        if (!overwrite)
        {
            if (extra.Count > 0)
                throw new DreamBoothException($"--output {dir}: holds {extra.Count} more photo(s) than --count {count} ({Path.GetFileName(extra[0])}); use --overwrite to remove them");
            foreach (var (path, bytes) in files)
                if (File.Exists(path) && !File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes))
                    throw new DreamBoothException($"--output {dir}: {Path.GetFileName(path)} exists with other content (another seed or count?); use --overwrite to replace it");
        }
        AtomicFile.CheckWritableFolder(dir, "--output");
        Directory.CreateDirectory(dir);
        foreach (var (path, bytes) in files) AtomicFile.WriteAllBytes(path, bytes);
        foreach (var f in extra) File.Delete(f);
        return files.Take(photos.Count).Select(f => f.Path).ToList();
    }

    private static string Readme(long seed, int count)
    {
        var a = DemoSubject.Appearance;
        string seedArg = seed == DemoSubject.PhotoSeed ? "" : $" --seed {seed.ToString(CultureInfo.InvariantCulture)}";
        string countArg = count == DemoSubject.PhotoCount ? "" : $" --count {count}";
        return $"""
            # Demo subject: {count} photos of one {DemoSubject.ClassNoun}

            The instance images of `dreambooth demo`: {count} photos ({SceneRenderer.Size}×{SceneRenderer.Size} PNG) of **one {DemoSubject.ClassNoun}**
            {WorldLabels.Phrase(DemoSubject.Context)}, rendered by the tiny-world generator (`src/DreamBooth/TinyWorld/`) with
            different poses, sizes, positions and facing.

            - class noun: **{DemoSubject.ClassNoun}** (class prompt: "a photo of a {DemoSubject.ClassNoun}")
            - context of the photos: **{WorldLabels.Phrase(DemoSubject.Context)}**
            - the instance: a {WorldLabels.Word(a.Color)} {DemoSubject.ClassNoun} with {WorldLabels.Word(a.PatternColor)} {WorldLabels.PluralNoun(a.Pattern)} and a {WorldLabels.Word(a.MarkingColor)} {WorldLabels.Noun(a.Marking)} on its side
              (build {a.Variant}, detail seed 0x{a.Detail:X}: `DemoSubject.Appearance`)
            - never seen by the base model: no pretraining scene has a {WorldLabels.Noun(a.Marking)} marking, and none has a
              {WorldLabels.Word(a.Color)} body with a {WorldLabels.Word(a.PatternColor)} pattern (`DemoSubject.Resembles`, `PretrainingPolicy`)

            Made with (bit-identical on rerun; this README is written by the same command):

            ```bash
            ./dreambooth tiny-world samples --output samples{seedArg}{countArg}
            ```

            i.e. seed {seed.ToString(CultureInfo.InvariantCulture)}, `DemoSubject.Photos(seed: {seed.ToString(CultureInfo.InvariantCulture)}, count: {count})`.

            """;
    }
}
