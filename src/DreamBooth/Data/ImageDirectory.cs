namespace DreamBooth.Data;

/// <summary>
/// The files of a training-image directory: images (by extension, case-insensitive) and caption files (<c>.txt</c>),
/// directly in the directory (not recursive), in ordinal file-name order so that every run sees the same order
/// (diffusers uses the file system's order, which differs between machines). Names starting with '.' are skipped:
/// hidden files, macOS "._" resource forks and our own temporary <c>.partial</c> files are never images to train on.
/// </summary>
public sealed class ImageDirectory
{
    private readonly Dictionary<string, List<string>> _captionsByStem;

    private ImageDirectory(string path, IReadOnlyList<string> images, IReadOnlyList<string> unsupported, Dictionary<string, List<string>> captionsByStem)
    {
        Path = path;
        Images = images;
        Unsupported = unsupported;
        _captionsByStem = captionsByStem;
    }

    /// <summary>The directory as given.</summary>
    public string Path { get; }

    /// <summary>Full paths of the image files, ordered by file name (ordinal).</summary>
    public IReadOnlyList<string> Images { get; }

    /// <summary>Image files of a format the decoder cannot read (<see cref="ImageFormats.UnsupportedFormat"/>), skipped.</summary>
    public IReadOnlyList<string> Unsupported { get; }

    /// <summary>
    /// Lists <paramref name="directory"/>. Errors name <paramref name="flag"/> and the path: the directory is missing,
    /// not a directory, unreadable, empty, or holds no file with an image extension.
    /// </summary>
    public static ImageDirectory Scan(string directory, string flag)
    {
        if (string.IsNullOrWhiteSpace(directory)) throw new DreamBoothException($"{flag}: no directory given");
        if (File.Exists(directory)) throw new DreamBoothException($"{flag} {directory}: is a file, not a directory");
        if (!Directory.Exists(directory)) throw new DreamBoothException($"{flag} {directory}: directory not found");
        string[] files;
        try
        {
            files = Directory.GetFiles(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.SecurityException)
        {
            throw new DreamBoothException($"{flag} {directory}: cannot list the directory: {e.Message.ReplaceLineEndings(" ")}", e);
        }
        var visible = files.Where(f => !System.IO.Path.GetFileName(f).StartsWith('.')).ToArray();
        if (visible.Length == 0)
            throw new DreamBoothException(files.Length == 0 ? $"{flag} {directory}: the directory has no files"
                : $"{flag} {directory}: only hidden files (names starting with '.'), which are skipped");

        var (images, unsupported) = ImageIO.Sort(visible);
        if (images.Count == 0)
            throw new DreamBoothException(
                $"{flag} {directory}: no images among its {visible.Length} file(s) (looked for {string.Join(" ", ImageFormats.Extensions)}, any case" +
                (unsupported.Count > 0 ? $"; {ImageFormats.UnsupportedFormat(unsupported[0])} is not supported)" : ")"));

        var captions = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var f in visible.Where(f => System.IO.Path.GetExtension(f).Equals(".txt", StringComparison.OrdinalIgnoreCase)))
        {
            var stem = System.IO.Path.GetFileNameWithoutExtension(f);
            if (!captions.TryGetValue(stem, out var list)) captions[stem] = list = [];
            list.Add(f);
        }
        return new ImageDirectory(directory, images, unsupported, captions);
    }

    /// <summary>
    /// The caption file beside <paramref name="imagePath"/> (<c>name.txt</c> for <c>name.jpg</c>, extension in any case),
    /// or null. Two candidates (say <c>a.txt</c> and <c>a.TXT</c>) are an error.
    /// </summary>
    public string? CaptionFileFor(string imagePath)
    {
        var stem = System.IO.Path.GetFileNameWithoutExtension(imagePath);
        if (!_captionsByStem.TryGetValue(stem, out var list)) return null;
        if (list.Count > 1)
            throw new DreamBoothException(
                $"{imagePath}: more than one caption file ({string.Join(", ", list.Order(StringComparer.Ordinal).Select(System.IO.Path.GetFileName))}); keep one");
        return list[0];
    }
}
