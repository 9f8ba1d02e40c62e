using System.Text;

namespace DreamBooth.Data;

/// <summary>
/// Reads a per-image caption (<c>name.txt</c> beside <c>name.jpg</c>) that replaces the prompt for that image.
/// UTF-8 (a BOM is allowed), trimmed. An empty or whitespace-only caption is an error, not a silent fallback to the
/// prompt: it almost always means a captioning step failed, and training on the wrong text would go unnoticed for hours.
/// </summary>
public static class CaptionFile
{
    /// <summary>Largest caption file accepted (CLIP reads 77 tokens; anything near this size is not a caption).</summary>
    public const int MaxBytes = 64 * 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The trimmed caption in <paramref name="path"/>; a one-line <see cref="DreamBoothException"/> naming the file otherwise.</summary>
    public static string Read(string path)
    {
        byte[] bytes;
        try
        {
            var length = new FileInfo(path).Length;
            if (length > MaxBytes)
                throw new DreamBoothException($"{path}: caption file is {length} bytes, more than the limit of {MaxBytes}");
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.SecurityException)
        {
            throw new DreamBoothException($"{path}: cannot read the caption file: {e.Message.ReplaceLineEndings(" ")}", e);
        }

        ReadOnlySpan<byte> body = bytes;
        if (body.StartsWith(Encoding.UTF8.Preamble)) body = body[Encoding.UTF8.Preamble.Length..];
        string text;
        try
        {
            text = StrictUtf8.GetString(body);
        }
        catch (DecoderFallbackException e)
        {
            throw new DreamBoothException($"{path}: caption file is not valid UTF-8", e);
        }
        text = text.Trim();
        if (text.Length == 0)
            throw new DreamBoothException($"{path}: caption file is empty; write the prompt for its image in it or delete it");
        return text;
    }
}
