using System.Text;

namespace DreamBooth;

/// <summary>
/// The one documented error type for bad input (files, configs, flags). Its message is a single line that names the
/// culprit (file, tensor, key or flag) and says what is wrong; the CLI prints it as is and exits with code 2.
/// The constructor keeps it one line whatever a hostile file put into it: line breaks and other control characters
/// (from tensor names, JSON snippets, parser messages) are written as escapes (<c>\n</c>, <c>\u0000</c>).
/// </summary>
public class DreamBoothException : Exception
{
    public DreamBoothException(string message) : base(OneLine(message)) { }
    public DreamBoothException(string message, Exception inner) : base(OneLine(message), inner) { }

    /// <summary>
    /// <paramref name="text"/> with every line break or control character escaped: <c>\n</c>, <c>\r</c>, and
    /// <c>\uXXXX</c> for the rest (C0/C1 controls, U+2028, U+2029); tabs stay.
    /// </summary>
    public static string OneLine(string text)
    {
        int i = 0;
        while (i < text.Length && !NeedsEscape(text[i])) i++;
        if (i == text.Length) return text;
        var sb = new StringBuilder(text.Length + 16).Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (!NeedsEscape(c)) sb.Append(c);
            else if (c == '\n') sb.Append("\\n");
            else if (c == '\r') sb.Append("\\r");
            else sb.Append("\\u").Append(((int)c).ToString("x4"));
        }
        return sb.ToString();
    }

    private static bool NeedsEscape(char c) => c != '\t' && (char.IsControl(c) || c is '\u2028' or '\u2029');
}
